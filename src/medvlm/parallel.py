"""Worker processes for the CPU-bound data stages (image writing and decoding)."""

from __future__ import annotations

import multiprocessing
from multiprocessing.pool import Pool


def process_pool(processes: int) -> Pool:
    """A process pool that works when started from a Snakemake ``script:`` file.

    Workers are forked where the platform can: spawn-started workers re-import the main
    module, and a Snakemake script has no ``__main__`` guard, so each worker would rerun the
    whole stage and the pool would hang. Create the pool before starting threads (a progress
    bar's monitor, for one) so no lock is held across the fork.
    """
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    return multiprocessing.get_context(method).Pool(processes)
