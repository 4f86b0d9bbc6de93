"""Seeded bootstrap percentile confidence intervals that resample images, not questions.

Questions about the same image are not independent, so the unit of resampling is the image
(``Item.image_key``): a replicate draws images with replacement and keeps every question of each
drawn image. Draws are made within each data set (stratum), keeping each data set's number of
images fixed, because the headline metrics average over data sets and the data sets themselves
are not a random sample. The same seed and the same rows give the same intervals.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

DEFAULT_REPLICATES = 1000
LEVEL = 0.95

Statistic = Callable[[np.ndarray], Mapping[str, float | None]]


class ImageResampler:
    """Draws row indices for bootstrap replicates: images with replacement, within strata."""

    def __init__(self, strata: Sequence[str], groups: Sequence[str]):
        if len(strata) != len(groups):
            raise ValueError(f"{len(strata)} strata for {len(groups)} rows")
        keys = np.asarray(
            [f"{s}\x00{g}" for s, g in zip(strata, groups, strict=True)], dtype=object
        )
        group_of_row = np.unique(keys, return_inverse=True)[1].reshape(-1)
        self._order = np.argsort(group_of_row, kind="stable")
        self._sizes = np.bincount(group_of_row)
        self._starts = np.concatenate([[0], np.cumsum(self._sizes)[:-1]])
        stratum_of_group = np.zeros(len(self._sizes), dtype=object)
        stratum_of_group[group_of_row] = np.asarray(strata, dtype=object)
        self._strata_groups = [np.flatnonzero(stratum_of_group == s) for s in sorted(set(strata))]

    def draw(self, rng: np.random.Generator) -> np.ndarray:
        """Row indices of one replicate (a row appears once per draw of its image)."""
        groups = np.concatenate(
            [
                members[rng.integers(0, len(members), len(members))]
                for members in self._strata_groups
            ]
        )
        lengths = self._sizes[groups]
        ends = np.cumsum(lengths)
        positions = np.repeat(self._starts[groups] - (ends - lengths), lengths) + np.arange(
            ends[-1]
        )
        return self._order[positions]


def bootstrap_ci(
    strata: Sequence[str],
    groups: Sequence[str],
    statistic: Statistic,
    n: int = DEFAULT_REPLICATES,
    seed: int | Sequence[int] = 0,
    level: float = LEVEL,
) -> dict[str, list[float] | None]:
    """Percentile interval ``[lo, hi]`` of each metric ``statistic(row_indices)`` returns.

    ``strata`` and ``groups`` give each row's data set and image. A metric that is undefined
    (``None`` or NaN) in every replicate gets ``None``; replicates where it is undefined are left
    out of its interval. ``n = 0`` or no rows gives no intervals.
    """
    if n < 0:
        raise ValueError(f"number of bootstrap replicates must be >= 0, got {n}")
    if n == 0 or len(groups) == 0:
        return {}
    resampler = ImageResampler(strata, groups)
    rng = np.random.default_rng(seed)
    samples: dict[str, list[float]] = {}
    for _ in range(n):
        for name, value in statistic(resampler.draw(rng)).items():
            values = samples.setdefault(name, [])
            if value is not None and not np.isnan(value):
                values.append(float(value))
    tail = 100 * (1 - level) / 2
    return {
        name: [float(v) for v in np.percentile(values, [tail, 100 - tail])] if values else None
        for name, values in samples.items()
    }
