"""Training runs as the workflow starts them: in their own process, killed part-way if asked."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from medvlm.models.base import SplitData

SCRIPT = """
import json, sys
from pathlib import Path
from medvlm.logs import setup_logging
from medvlm.models.base import SplitData, get_family
setup_logging(None)
a = json.loads(sys.argv[1])
get_family(a["run"]["family"]).train(
    a["run"], SplitData(*map(Path, a["train"])), SplitData(*map(Path, a["val"])),
    Path(a["out"]), Path(a["resume"]),
)
"""


def training_argument(run: dict, train: SplitData, val: SplitData, out: Path, resume: Path) -> str:
    """:data:`SCRIPT`'s argument: the family's ``train`` call as JSON."""
    return json.dumps(
        {
            "run": run,
            "train": [str(train.records_path), str(train.shard_dir)],
            "val": [str(val.records_path), str(val.shard_dir)],
            "out": str(out),
            "resume": str(resume),
        }
    )


def kill_training(
    run: dict,
    train: SplitData,
    val: SplitData,
    out: Path,
    resume: Path,
    saved: Callable[[Path], bool],
    timeout: float = 240,
) -> None:
    """Train ``run`` in a new process and SIGKILL it, with every worker process it started, as
    soon as ``saved(resume)`` holds (its first resume state is on disk). Fails if the training
    ends first or nothing is saved."""
    process = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, training_argument(run, train, val, out, resume)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        start_new_session=True,  # its own process group: the kill reaches its workers
    )
    deadline = time.monotonic() + timeout
    try:
        while not saved(resume):
            assert process.poll() is None, "the training ended before its first resume state"
            assert time.monotonic() < deadline, f"no resume state after {timeout} s"
            time.sleep(0.005)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
