"""Training in several processes with the frameworks' own runtimes: a 2-process run trains as
one process with the same global batch, writes its outputs once, and resumes after a kill.

PaliGemma: two JAX processes (CPU collectives: gloo), one global mesh; MedGemma: two torchrun
workers (gloo). Without SLURM the PaliGemma processes start on this machine; on the local SLURM
(``.ci/slurm-up``) each family trains as a job of 2 tasks started by ``srun`` — PaliGemma one
JAX process per task, MedGemma one torchrun agent per task with a c10d rendezvous (``nodes: 2``
in a run, given one node here: the CI cluster has one) — and the workflow asks SLURM for each
run's nodes, tasks and GPUs through the profile.
"""

from __future__ import annotations

import contextlib
import csv
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil
import pytest
import torch
import yaml
from safetensors.torch import load_file

from medvlm.models.base import get_family
from medvlm.models.launch import slurm_resources, workers_dir
from medvlm.models.medgemma.checkpoints import last_complete_checkpoint
from medvlm.models.medgemma.demo_model import build_demo_model
from medvlm.models.paligemma.checkpoint import read_npz
from medvlm.models.paligemma.resume import saved_steps
from tests.support.medgemma_data import colour_split, demo_texts
from tests.support.slurm import PROFILE, require_cluster, sbatch_calls, slurm_run, write_profile
from tests.support.snakemake_runner import tiny_runs_config
from tests.support.training import SCRIPT, training_argument
from tests.test_paligemma_family import QUESTION, SIZE, make_run, make_split

ADAPTER = "adapter_model.safetensors"


def test_slurm_resources_follow_nodes_and_processes():
    # one process: one task, the GPUs of one node
    assert slurm_resources("paligemma", 1, 1) == {"nodes": 1, "gres": "gpu:1"}
    assert slurm_resources("medgemma", 1, 4) == {"nodes": 1, "gres": "gpu:4"}  # torchrun alone
    # PaliGemma: one srun task per GPU → --ntasks-per-node
    assert slurm_resources("paligemma", 2, 4) == {
        "nodes": 2,
        "gres": "gpu:4",
        "mpi": "srun",
        "tasks_per_node": 4,
    }
    # one task per node (the plugin takes tasks_per_node only above 1): --ntasks, and no
    # --ntasks-per-gpu, which the plugin would make of `tasks` in a GPU job
    one_per_node = {"mpi": "srun", "tasks": 3, "tasks_per_gpu": 0}
    assert slurm_resources("paligemma", 3, 1) == {"nodes": 3, "gres": "gpu:1", **one_per_node}
    assert slurm_resources("medgemma", 3, 8) == {"nodes": 3, "gres": "gpu:8", **one_per_node}


def log_rows(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def assert_same_losses(one: Path, two: Path) -> None:
    """Every logged step's training and validation loss of two runs, to float32 rounding."""
    first, second = log_rows(one / "train_log.csv"), log_rows(two / "train_log.csv")
    assert [r["step"] for r in first] == [r["step"] for r in second]
    for a, b in zip(first, second, strict=True):
        for column in ("loss", "val_loss"):
            if a[column] or b[column]:
                assert float(b[column]) == pytest.approx(float(a[column]), rel=1e-5), (a, b)


def assert_same_weights(one: Path, two: Path, family: str) -> None:
    """The final weights of two runs, to what the all-reduce's summation order leaves: Adam
    divides a gradient by its own scale, so a near-zero gradient whose rounding differs moves a
    weight by up to one learning-rate step (0.01 here) either way; 1e-3 is a tenth of that."""
    if family == "paligemma":
        first, second = read_npz(one / "final.npz"), read_npz(two / "final.npz")
        assert first.keys() == second.keys()
        for name in first:
            np.testing.assert_allclose(
                second[name].astype(np.float32), first[name].astype(np.float32), atol=1e-3
            )
    else:
        first, second = load_file(one / "final" / ADAPTER), load_file(two / "final" / ADAPTER)
        assert first.keys() == second.keys()
        for name in first:
            torch.testing.assert_close(second[name], first[name], rtol=1e-3, atol=1e-5)


OUTPUTS = {
    "paligemma": ["best.npz", "config.json", "final.npz", "tokenizer.model", "train_log.csv"],
    "medgemma": ["best", "final", "train_log.csv"],
}


def assert_written_once(out: Path, resume: Path, family: str) -> None:
    """The main process alone wrote the outputs: no second writer's leftovers, and the launch
    folder and resume state are gone."""
    assert sorted(path.name for path in out.iterdir()) == OUTPUTS[family]
    assert not workers_dir(resume).exists() and not resume.exists()


# Two runs of each family: one process with the global batch, and the 2-process layout.
# MedGemma's LoRA dropout is off: each process draws its own dropout masks.
def paligemma_run(root: Path, **layout) -> dict:
    return make_run(root / "demo", log_every=1, save_every=2, **layout)


def medgemma_run(model: Path, batch_size: int, **layout) -> dict:
    train = {
        "batch_size": batch_size,
        "grad_accum": 1,
        "steps": 8,
        "warmup_fraction": 0,
        "learning_rate": 5e-3,
        "lora_dropout": 0.0,
        "val_every": 4,
        "save_every": 2,
        "log_every": 1,
        "activation_checkpointing": False,
        **layout,
    }
    return {"family": "medgemma", "checkpoint": str(model), "seed": 0, "train": train}


@pytest.fixture(scope="module")
def families(tmp_path_factory):
    """Data, demo model, the 2-process run dict and the single-process reference output of
    each family."""
    root = tmp_path_factory.mktemp("multiprocess")
    pg = root / "pg"
    pg.mkdir()
    pg_train, pg_val = make_split(pg, "train", 24, 0), make_split(pg, "val", 8, 1)
    texts = [QUESTION + " Answer with the option letter.", "A", "B"] * 5
    get_family("paligemma").build_demo_model(
        pg / "demo", texts, {"image_size": SIZE, "patch": 8, "width": 16}
    )
    mg = root / "mg"
    mg_train = colour_split(mg / "data", "train", 24)
    mg_val = colour_split(mg / "data", "val", 4, seed=1)
    build_demo_model(mg / "model", demo_texts(mg_train, mg_val), {})
    setups = {
        "paligemma": (paligemma_run(pg), paligemma_run(pg, processes=2), pg_train, pg_val),
        "medgemma": (
            medgemma_run(mg / "model", 4),
            medgemma_run(mg / "model", 2, nodes=2),  # one torchrun agent per task
            mg_train,
            mg_val,
        ),
    }
    out = {}
    for family, (single, double, train, val) in setups.items():
        reference = root / f"{family}-one-process"
        get_family(family).train(single, train, val, reference, root / f"{family}-resume")
        out[family] = (double, train, val, reference)
    return out


@pytest.mark.slow
def test_two_local_jax_processes_train_as_one(families, tmp_path):
    run, train, val, reference = families["paligemma"]
    out, resume = tmp_path / "model", tmp_path / "resume"
    get_family("paligemma").train(run, train, val, out, resume)
    assert_same_losses(reference, out)
    assert_same_weights(reference, out, "paligemma")
    assert_written_once(out, resume, "paligemma")


# --- on the local SLURM -------------------------------------------------------------------


@pytest.fixture(scope="module")
def slurm():
    require_cluster("ci")


def sbatch_flags(family: str, run: dict) -> list[str]:
    """What the train rule's resources make the SLURM plugin ask for (the workflow test below
    checks the plugin's own call), on this cluster's one node."""
    train = run["train"]
    resources = slurm_resources(family, train.get("nodes", 1), train.get("processes", 1))
    flags = ["--partition=gpu", "--nodes=1", f"--gres={resources['gres']}"]
    if "tasks_per_node" in resources:
        flags.append(f"--ntasks-per-node={resources['tasks_per_node']}")
    else:
        flags.append(f"--ntasks={resources['tasks']}")
    return flags


def submit(family: str, run: dict, train, val, out: Path, resume: Path, folder: Path) -> str:
    """The family's train in the batch step of a SLURM job (as the workflow's job runs it: it
    starts the tasks with srun); returns the job id."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "script.py").write_text(SCRIPT)
    (folder / "argument.json").write_text(training_argument(run, train, val, out, resume))
    script = folder / "job.sh"
    script.write_text(
        "#!/bin/bash\n"
        f'exec "{sys.executable}" "{folder / "script.py"}" "$(cat "{folder / "argument.json"}")"\n'
    )
    done = subprocess.run(
        ["sbatch", "--parsable", *sbatch_flags(family, run), "--cpus-per-task=1"]
        + [f"--output={folder}/slurm-%j.out", f"--chdir={folder}", str(script)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    return done.stdout.strip().split(";")[0]


def job_state(job: str) -> str | None:
    """The job's state while SLURM lists it (None once it is gone)."""
    done = subprocess.run(
        ["squeue", "-h", "-j", job, "-o", "%T"], capture_output=True, text=True, check=False
    )
    return done.stdout.strip() or None


def wait(job: str, folder: Path, timeout: float = 1200) -> None:
    deadline = time.monotonic() + timeout
    while job_state(job) is not None:
        assert time.monotonic() < deadline, f"job {job} still running after {timeout} s"
        time.sleep(1)
    result = subprocess.run(
        ["scontrol", "show", "job", job], capture_output=True, text=True, check=False
    )
    state = re.search(r"JobState=(\S+).*?ExitCode=(\S+)", result.stdout, re.DOTALL)
    if state and state[1] == "FAILED":
        pytest.fail(failed_job_report(job, state[2], folder), pytrace=False)


def failed_job_report(job: str, exit_code: str, folder: Path) -> str:
    """Why a job failed, its most telling lines last (CI shows the end of the output): the job's
    log, then every line of it and of the workers' logs that names an error."""
    job_log = folder / f"slurm-{job}.out"
    # torchrun's worker logs, and its record of a worker's exception
    logs = [job_log, *sorted(folder.rglob("*.log")), *sorted(folder.rglob("error.json"))]
    texts = {path: path.read_text(errors="replace") for path in logs if path.is_file()}
    errors = [
        f"{path.name}: {line.strip()}"
        for path, text in texts.items()
        for line in text.splitlines()
        if re.search(r"error|exception|failed|refused|timed? ?out", line, re.IGNORECASE)
    ]
    return (
        f"SLURM job {job} FAILED (exit code {exit_code}); its log ends:\n"
        f"{texts.get(job_log, '(no job log)')[-4000:]}\n"
        f"--- lines naming an error, from {len(texts)} logs under {folder} ---\n"
        + "\n".join(errors[-25:])
    )


STATE_SAVED = {
    "paligemma": lambda resume: bool(saved_steps(resume)),
    "medgemma": lambda resume: last_complete_checkpoint(resume) is not None,
}


@pytest.fixture(scope="module")
def two_task_runs(slurm, families, tmp_path_factory):
    """Each family's uninterrupted 2-task SLURM job."""
    runs = {}
    for family, (run, train, val, _) in families.items():
        folder = tmp_path_factory.mktemp(f"{family}-slurm")
        out, resume = folder / "model", folder / "resume"
        wait(submit(family, run, train, val, out, resume, folder), folder)
        runs[family] = (out, resume, folder)
    return runs


@pytest.mark.slurm
@pytest.mark.slow
@pytest.mark.parametrize("family", ["paligemma", "medgemma"])
def test_two_task_slurm_job_trains_as_one_process(families, two_task_runs, family):
    _, _, _, reference = families[family]
    out, resume, folder = two_task_runs[family]
    log = "".join(path.read_text() for path in folder.glob("slurm-*.out"))
    assert (out / "train_log.csv").is_file(), log[-5000:]
    assert_same_losses(reference, out)
    assert_same_weights(reference, out, family)
    assert_written_once(out, resume, family)


def kill_job_processes(folder: Path) -> None:
    """SIGKILL every process of a job started from ``folder``: the batch step, srun, the
    torchrun agents and every worker (each names a file under ``folder`` on its command line).
    A ``scancel`` alone sends SIGTERM first, which JAX's preemption notifier catches, and
    SIGKILL only after the cluster's KillWait (30 s), time enough for this tiny run to end."""
    victims = [
        process
        for process in psutil.process_iter(["cmdline"])
        if any(str(folder) in part for part in process.info["cmdline"] or ())
    ]
    assert victims, f"no process of the job in {folder}"
    for process in victims:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    psutil.wait_procs(victims, timeout=30)


@pytest.mark.slurm
@pytest.mark.slow
@pytest.mark.parametrize("family", ["paligemma", "medgemma"])
def test_killed_two_task_job_resumes_to_the_uninterrupted_end(
    families, two_task_runs, family, tmp_path
):
    run, train, val, _ = families[family]
    out, resume = tmp_path / "model", tmp_path / "resume"
    job = submit(family, run, train, val, out, resume, tmp_path)
    deadline = time.monotonic() + 900
    while not STATE_SAVED[family](resume):
        assert job_state(job) is not None, "the job ended before its first resume state"
        assert time.monotonic() < deadline, "no resume state after 900 s"
        time.sleep(0.02)
    kill_job_processes(tmp_path)
    subprocess.run(["scancel", job], check=True)
    while job_state(job) is not None:
        time.sleep(0.5)
    assert not (out / "final.npz").exists() and not (out / "final").exists(), "the job ended"

    wait(submit(family, run, train, val, out, resume, tmp_path), tmp_path)
    uninterrupted, _, _ = two_task_runs[family]
    assert_same_losses(uninterrupted, out)
    assert_same_weights(uninterrupted, out, family)
    assert_written_once(out, resume, family)


@pytest.mark.slurm
@pytest.mark.slow
def test_the_workflow_asks_slurm_for_each_runs_nodes_tasks_and_gpus(slurm, tmp_path):
    config = tiny_runs_config(tmp_path)
    del config["runs"]["mg_zero_shot"]
    config["runs"]["pg"]["train"]["processes"] = 2
    config["runs"]["mg"]["train"]["nodes"] = 2
    # the CI cluster has one node: its two tasks share it
    profile = yaml.safe_load((PROFILE / "config.yaml").read_text())
    profile["set-resources"]["train"]["nodes"] = 1  # over the rule's: one node here
    profile = write_profile(tmp_path / "profile", profile)
    log = slurm_run(tmp_path, config, profile, "--until", "train")
    calls = sbatch_calls(log, "train")
    assert len(calls) == 2, log[-4000:]
    flags = {
        "pg": ("--gres=gpu:2", "--ntasks-per-node=2"),  # a JAX process per GPU
        "mg": ("--gres=gpu:1", "--ntasks=2"),  # a torchrun agent per node
    }
    for run, wanted in flags.items():
        (call,) = [call for call in calls if f"rule_train_wildcards_{run} " in call]
        assert "--nodes=1" in call and "-p gpu" in call and "--ntasks-per-gpu" not in call, call
        assert all(flag in call for flag in wanted), (run, call)
        rows = log_rows(tmp_path / "results" / "models" / run / "train_log.csv")
        assert rows and rows[-1]["loss"]
