"""Bootstrap intervals: images as the unit, strata kept, deterministic for a seed."""

from __future__ import annotations

import numpy as np
import pytest

from medvlm.metrics.bootstrap import ImageResampler, bootstrap_ci


def _mean_of(values):
    values = np.asarray(values, dtype=float)
    return lambda rows: {"mean": float(values[rows].mean())}


def test_same_seed_same_interval_and_other_seed_differs():
    values = np.arange(40) % 7
    strata, groups = ["X"] * 40, [str(i) for i in range(40)]
    first = bootstrap_ci(strata, groups, _mean_of(values), n=200, seed=3)
    again = bootstrap_ci(strata, groups, _mean_of(values), n=200, seed=3)
    other = bootstrap_ci(strata, groups, _mean_of(values), n=200, seed=4)
    assert first == again
    assert first != other


def test_interval_contains_the_point_estimate():
    # 30 images scoring 1 and 30 scoring 0: the mean is 0.5, and a replicate mean falls below
    # or above it about equally often, so the 95% interval straddles 0.5 with room on each side
    values = [1.0] * 30 + [0.0] * 30
    (lo, hi) = bootstrap_ci(["X"] * 60, list(map(str, range(60))), _mean_of(values), n=200)["mean"]
    assert lo < 0.5 < hi
    assert 0.3 < lo and hi < 0.7


def test_all_questions_of_an_image_travel_together_and_strata_keep_their_size():
    # image a: rows 0, 1 (stratum X); image b: row 2 (X); image c: rows 3, 4, 5 (stratum Y)
    strata = ["X", "X", "X", "Y", "Y", "Y"]
    groups = ["a", "a", "b", "c", "c", "c"]
    resampler = ImageResampler(strata, groups)
    rng = np.random.default_rng(0)
    for _ in range(50):
        rows = resampler.draw(rng)
        counts = np.bincount(rows, minlength=6)
        assert counts[0] == counts[1]  # image a drawn whole or not at all
        assert counts[3] == counts[4] == counts[5] == 1  # Y has one image: always drawn once
        # two draws from X's two images: (a,a) -> 4 rows, (a,b) -> 3, (b,b) -> 2
        assert counts[0] + counts[1] + counts[2] in (2, 3, 4)


def test_undefined_metric_gets_no_interval_and_zero_replicates_none_at_all():
    def statistic(rows):
        return {"defined": float(len(rows)), "undefined": None}

    ci = bootstrap_ci(["X"] * 4, list("abcd"), statistic, n=50)
    assert ci["undefined"] is None
    assert ci["defined"] == [4.0, 4.0]  # every replicate draws 4 single-row images
    assert bootstrap_ci(["X"] * 4, list("abcd"), statistic, n=0) == {}
    with pytest.raises(ValueError, match="replicates"):
        bootstrap_ci(["X"], ["a"], statistic, n=-1)


def test_intervals_do_not_depend_on_row_order():
    # images are drawn by sorted key, so shuffling the rows changes nothing
    rng = np.random.default_rng(1)
    values = rng.random(30)
    strata = [f"s{i % 3}" for i in range(30)]
    groups = [f"img{i // 2}" for i in range(30)]
    order = rng.permutation(30)
    first = bootstrap_ci(strata, groups, _mean_of(values), n=200, seed=7)
    shuffled = bootstrap_ci(
        [strata[i] for i in order],
        [groups[i] for i in order],
        _mean_of(values[order]),
        n=200,
        seed=7,
    )
    assert shuffled["mean"] == pytest.approx(first["mean"])
