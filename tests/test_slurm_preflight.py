"""The SLURM preflight without a cluster: reading scontrol's output, turning resources into
requests as the SLURM plugin does, checking them, naming profile lines, pending reasons, and the
profile's EDIT marks against README's list.

The scontrol records are this format as slurm-wlm 22.05 prints it (the first two nodes and
partitions verbatim from .ci/slurm-up other, the rest shaped like them).
"""

from __future__ import annotations

import re
import subprocess

import pytest
import yaml

from medvlm.slurm.cluster import (
    Cluster,
    Gres,
    parse_gres,
    parse_min_job_age,
    parse_partitions,
    parse_records,
    parse_time_limit,
)
from medvlm.slurm.hook import pending_threshold_s
from medvlm.slurm.pending import THRESHOLD_ENV, PendingJob, describe, parse_squeue
from medvlm.slurm.preflight import check_requests, status_command_notes
from medvlm.slurm.profile import ProfileLines, profile_from_argv
from medvlm.slurm.requests import job_request
from tests.support.slurm import MEDVLM
from tests.support.snakemake_runner import REPO, small_synthetic_config

PARTITIONS = """\
PartitionName=batch AllowGroups=ALL AllowAccounts=ALL AllowQos=ALL AllocNodes=ALL Default=YES QoS=N/A DefaultTime=NONE DisableRootJobs=NO ExclusiveUser=NO GraceTime=0 Hidden=NO MaxNodes=UNLIMITED MaxTime=2-00:00:00 MinNodes=0 LLN=NO MaxCPUsPerNode=UNLIMITED Nodes=localhost PriorityJobFactor=1 PriorityTier=1 RootOnly=NO ReqResv=NO OverSubscribe=NO OverTimeLimit=NONE PreemptMode=OFF State=UP TotalCPUs=6 TotalNodes=1 SelectTypeParameters=NONE JobDefaults=(null) DefMemPerNode=UNLIMITED MaxMemPerNode=UNLIMITED TRES=cpu=6,mem=62.50G,node=1,billing=6
PartitionName=a100 AllowGroups=ALL AllowAccounts=ALL AllowQos=ALL AllocNodes=ALL Default=NO QoS=N/A DefaultTime=NONE DisableRootJobs=NO ExclusiveUser=NO GraceTime=0 Hidden=NO MaxNodes=UNLIMITED MaxTime=12:00:00 MinNodes=0 LLN=NO MaxCPUsPerNode=UNLIMITED Nodes=localhost,g[01-02] PriorityJobFactor=1 PriorityTier=1 RootOnly=NO ReqResv=NO OverSubscribe=NO OverTimeLimit=NONE PreemptMode=OFF State=UP TotalCPUs=6 TotalNodes=1 SelectTypeParameters=NONE JobDefaults=(null) DefMemPerNode=UNLIMITED MaxMemPerNode=250000 TRES=cpu=6,mem=62.50G,node=1,billing=6
PartitionName=old AllowGroups=ALL Default=NO MaxTime=30 MaxCPUsPerNode=4 Nodes=localhost State=DOWN MaxMemPerNode=UNLIMITED
"""  # noqa: E501

NODES = """\
NodeName=localhost Arch=x86_64 CoresPerSocket=1  CPUAlloc=0 CPUEfctv=6 CPUTot=6 CPULoad=5.42 AvailableFeatures=(null) ActiveFeatures=(null) Gres=gpu:a100:2 NodeAddr=localhost NodeHostName=localhost Version=22.05.8 OS=Linux 6.18.44-fc-v857 #1 SMP PREEMPT_DYNAMIC @0  RealMemory=64000 AllocMem=0 FreeMem=20160 Sockets=6 Boards=1 State=IDLE ThreadsPerCore=1 TmpDisk=0 Weight=1 Owner=N/A MCS_label=N/A Partitions=batch,a100,old  BootTime=2026-11-30T11:02:36 SlurmdStartTime=2026-11-30T11:19:17 LastBusyTime=2026-11-30T11:19:18 CfgTRES=cpu=6,mem=62.50G,billing=6 AllocTRES= CapWatts=n/a CurrentWatts=0 AveWatts=0 ExtSensorsJoules=n/s ExtSensorsWatts=0 ExtSensorsTemp=n/s
NodeName=g01 Arch=x86_64 CPUAlloc=0 CPUEfctv=62 CPUTot=64 Gres=gpu:a100:4(S:0-1),shard:8 OS=Linux 5.14 #1 SMP RealMemory=512000 MemSpecLimit=12000 State=MIXED Partitions=a100
NodeName=g02 Arch=x86_64 CPUAlloc=0 CPUTot=32 Gres=gpu:a100:2(S:0) RealMemory=256000 State=IDLE Partitions=a100
"""  # noqa: E501

PROFILE = REPO / "profiles" / "slurm" / "config.yaml"


@pytest.fixture
def cluster() -> Cluster:
    return Cluster(parse_partitions(PARTITIONS, NODES), False, "accounting is disabled", 300)


@pytest.fixture
def profile() -> ProfileLines:
    return ProfileLines.read(PROFILE)


def line_of(text: str) -> int:
    """The line of the real profile that holds ``text``."""
    lines = PROFILE.read_text().splitlines()
    return next(n for n, line in enumerate(lines, 1) if text in line)


def test_records_keep_values_with_spaces_and_equals_signs():
    record = parse_records(NODES)[0]
    assert record["OS"] == "Linux 6.18.44-fc-v857 #1 SMP PREEMPT_DYNAMIC @0"
    assert record["CfgTRES"] == "cpu=6,mem=62.50G,billing=6"
    assert record["RealMemory"] == "64000" and record["AllocTRES"] == ""


@pytest.mark.parametrize(
    "text, minutes",
    [
        ("UNLIMITED", None),
        ("INFINITE", None),
        ("30", 30),
        ("30:59", 30),  # minutes:seconds, seconds dropped
        ("12:00:00", 720),
        ("1-00:00:00", 1440),
        ("2-12", 3600),  # days-hours: (2 * 24 + 12) * 60
        ("1-02:30", 1590),  # days-hours:minutes: 26 * 60 + 30
    ],
)
def test_time_limits_in_minutes(text, minutes):
    assert parse_time_limit(text) == minutes


def test_gres_with_types_sockets_and_size_suffixes():
    assert parse_gres("gpu:a100:4(S:0-1),shard:8,tmpdisk:2G") == (
        Gres("gpu", "a100", 4),
        Gres("shard", None, 8),
        Gres("tmpdisk", None, 2 * 1024**3),
    )
    assert parse_gres("(null)") == ()
    assert parse_gres("gpu") == (Gres("gpu", None, 1),)


def test_partitions_collect_their_nodes_and_limits(cluster):
    batch, a100, old = cluster.partitions.values()
    assert cluster.default_partition is batch
    assert (batch.max_time_minutes, a100.max_time_minutes, old.max_time_minutes) == (
        2880,
        720,
        30,
    )
    assert [n.name for n in a100.nodes] == ["localhost", "g01", "g02"]
    # g01: 512000 MB less MemSpecLimit 12000; CPUEfctv (62) rather than CPUTot (64)
    assert a100.largest_memory_mb == 500000 and a100.most_cpus == 62
    assert a100.max_memory_mb == 250000 and batch.max_memory_mb is None
    assert a100.gres == (Gres("gpu", "a100", 2), Gres("gpu", "a100", 4), Gres("shard", None, 8))
    assert old.state == "DOWN" and old.max_cpus_per_node == 4


def test_min_job_age():
    assert parse_min_job_age("MessageTimeout = 10 sec\nMinJobAge               = 300 sec\n") == 300
    assert parse_min_job_age("MinJobAge = 1 hour\n") == 3600
    assert parse_min_job_age("nothing") is None


def test_requests_follow_the_slurm_plugins_translation():
    cpu = job_request("merge", {"mem_mb": 8000, "runtime": 60, "tasks": 2}, threads=3)
    assert (cpu.partition, cpu.runtime_minutes, cpu.memory_mb, cpu.cpus) == (None, 60, 8000, 6)
    typed = job_request("train", {"gpu": 2, "gpu_model": "a100", "cpus_per_gpu": 4}, threads=8)
    assert [g.gres for g in typed.gres] == [Gres("gpu", "a100", 2)]
    assert typed.gres[0].keys == ("gpu", "gpu_model")
    assert (typed.cpus, typed.cpus_key) == (8, "cpus_per_gpu")  # 4 per GPU × 2 GPUs
    per_cpu = job_request("x", {"mem_mb_per_cpu": 2000, "cpus_per_task": 5}, threads=1)
    assert (per_cpu.memory_mb, per_cpu.memory_key, per_cpu.cpus) == (10000, "mem_mb_per_cpu", 5)
    gres = job_request("p", {"gres": "gpu:1", "slurm_partition": "a100"}, threads=2)
    assert [g.gres for g in gres.gres] == [Gres("gpu", None, 1)] and gres.partition == "a100"
    no_cpus = job_request("p", {"cpus_per_task": -1}, threads=2)
    assert no_cpus.cpus is None  # the plugin then passes no CPU option at all


def test_fitting_requests_pass(cluster, profile):
    requests = [
        job_request("merge", {"mem_mb": 8000, "runtime": 60}, threads=6),
        # untyped gpu:4 fits g01's gpu:a100:4; 250000 MB is exactly MaxMemPerNode
        job_request(
            "train",
            {"slurm_partition": "a100", "gres": "gpu:4", "mem_mb": 250000, "runtime": 720},
            threads=62,
        ),
    ]
    assert check_requests(requests, cluster, profile) == []


def test_each_mismatch_names_rule_resource_value_limit_and_profile_line(cluster, profile):
    train = {
        "slurm_partition": "a100",
        "gres": "gpu:h100:1",
        "mem_mb": 300000,
        "runtime": 1440,
    }
    problems = check_requests([job_request("train", train, threads=64)], cluster, profile)
    text = [str(p) for p in problems]
    where = "profiles/slurm/config.yaml line"
    assert text == [
        "rule train: runtime 1440 min — above MaxTime 720 min (12:00:00) of partition a100: the "
        "job would pend forever (PartitionTimeLimit)\n"
        f"    edit {where} {line_of('runtime: 1440')} (set-resources: train: runtime)",
        "rule train: mem_mb 300000 MB — MaxMemPerNode of partition a100 is 250000 MB\n"
        f"    edit {where} {line_of('mem_mb: 96000')} (set-resources: train: mem_mb)",
        "rule train: CPUs (threads) 64 — the largest node of partition a100 has 62 CPUs\n"
        f"    edit {where} {line_of('  train: 8')} (set-threads: train)",
        "rule train: gres gpu:h100:1 — no node of partition a100 has it; the nodes have "
        "gpu:a100:2, gpu:a100:4, shard:8\n"
        # the profile sets no train gres (the rule asks gpu:<train.processes>): add one
        "    edit profiles/slurm/config.yaml: add set-resources: train: gres",
    ]


def test_unknown_partition_is_checked_against_every_partition(cluster, profile):
    requests = [
        job_request(rule, {"slurm_partition": "cpu", "mem_mb": 600000}, threads=1)
        for rule in ("merge", "split")
    ]
    problems = check_requests(requests, cluster, profile)
    assert [(p.rules, p.resource) for p in problems] == [
        (("merge", "split"), "slurm_partition"),
        (("merge", "split"), "mem_mb"),
    ]
    assert problems[0].limit == "no such partition; partitions here: batch (default), a100, old"
    # the most any partition offers: a100's 250000 MB (MaxMemPerNode caps g01's 500000)
    assert problems[1].limit.endswith("MaxMemPerNode of partition a100 is 250000 MB")
    assert problems[0].edit.endswith("(default-resources: slurm_partition)")


def test_a_down_partition_and_its_cpu_cap(cluster, profile):
    request = job_request("shards", {"slurm_partition": "old", "runtime": 31}, threads=5)
    limits = [p.limit for p in check_requests([request], cluster, profile)]
    assert limits == [
        "it is DOWN, not UP: no job starts",
        "above MaxTime 30 min (30) of partition old: the job would pend forever "
        "(PartitionTimeLimit)",
        "MaxCPUsPerNode of partition old is 4 CPUs",
    ]


def test_no_accounting_switches_to_squeue_and_names_the_commented_line(cluster, profile):
    command, notes, problems = status_command_notes(cluster, "sacct", 40, profile)
    assert command == "squeue" and problems == []
    assert notes == [
        "no accounting database here (sacct: accounting is disabled): status checks switched "
        "from sacct to squeue for this run; to set it yourself: profiles/slurm/config.yaml line "
        f"{line_of('# slurm-status-command')} (uncomment slurm-status-command)"
    ]
    # With accounting, nothing changes.
    with_accounting = Cluster(cluster.partitions, True, "", 300)
    assert status_command_notes(with_accounting, "sacct", 40, profile) == ("sacct", [], [])


def test_short_min_job_age_is_a_problem_the_profile_can_fix(cluster, profile):
    short = Cluster(cluster.partitions, False, "disabled", 100)
    _, _, problems = status_command_notes(short, "squeue", 40, profile)
    # the plugin keeps squeue only while MinJobAge (100) >= 3 × 40: set at most 100 // 3 = 33
    assert len(problems) == 1 and problems[0].requested == "40 s"
    assert problems[0].limit.endswith("set it to at most 33")
    assert (
        problems[0].edit
        == "profiles/slurm/config.yaml: add slurm-init-seconds-before-status-checks"
    )
    # MinJobAge 150 ≥ 3 × 40, but below the plugin's 180 s between late status checks: a note
    _, notes, problems = status_command_notes(
        Cluster(cluster.partitions, False, "disabled", 150), "squeue", 40, profile
    )
    assert problems == [] and "MinJobAge is 150 s" in notes[0]


def test_profile_lines_in_list_form(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(
        "executor: slurm\n"
        "default-resources:\n"
        "  - mem_mb=8000\n"
        "  - runtime=60\n"
        "set-resources:\n"
        "  - train:runtime=100\n"
    )
    lines = ProfileLines.read(path)
    assert lines.lines[("default-resources", "runtime")] == 4
    assert lines.lines[("set-resources", "train", "runtime")] == 6
    assert lines.where(["set-resources: predict: runtime", "default-resources: runtime"]) == (
        f"{path} line 4 (default-resources: runtime)"
    )


def test_profile_from_the_command_line(tmp_path, monkeypatch):
    monkeypatch.delenv("SNAKEMAKE_PROFILE", raising=False)
    folder = tmp_path / "myprofile"
    folder.mkdir()
    (folder / "config.yaml").write_text("executor: slurm\n")
    assert (
        profile_from_argv(["snakemake", "--profile", str(folder), "-n"]) == folder / "config.yaml"
    )
    assert profile_from_argv([f"--profile={folder}"]) == folder / "config.yaml"
    assert profile_from_argv(["snakemake", "-n"]) is None


def test_pending_jobs_and_their_reasons():
    jobs = parse_squeue(
        "17|rule_train_wildcards_pg|PartitionTimeLimit|2026-11-30T11:20:43\n"
        "18|rule_merge|Priority|2026-11-30T11:21:00\n"
        "garbage line\n"
    )
    assert [j.job_id for j in jobs] == ["17", "18"]
    assert describe(jobs[0], 725) == (
        "SLURM job 17 (rule train, pg) has been pending for 12.1 min; SLURM's reason: "
        "PartitionTimeLimit (the job's runtime is above the partition's MaxTime; it will never "
        "start: lower this rule's runtime in the profile)"
    )
    assert describe(PendingJob("19", "rule_x", "NewReason", 0.0), 60).endswith(
        "SLURM's reason: NewReason"
    )


def test_pending_threshold_from_the_environment(monkeypatch):
    monkeypatch.delenv(THRESHOLD_ENV, raising=False)
    assert pending_threshold_s() == 600  # the default, 10 minutes
    monkeypatch.setenv(THRESHOLD_ENV, "0.5")
    assert pending_threshold_s() == 30
    monkeypatch.setenv(THRESHOLD_ENV, "ten")
    with pytest.raises(Exception, match="MEDVLM_SLURM_PENDING_MINUTES='ten' is not a number"):
        pending_threshold_s()


# Keys whose values depend on the cluster, wherever they sit in the profile.
CLUSTER_KEYS = {"slurm_partition", "slurm_account", "gres", "gpu", "gpu_model", "mem_mb"}
CLUSTER_KEYS |= {"runtime", "jobs", "latency-wait", "slurm-status-command"}


def test_every_cluster_specific_value_is_marked_edit_and_listed_in_readme():
    text = PROFILE.read_text()
    settings = yaml.safe_load(text)
    readme = (REPO / "README.md").read_text().split("### On a SLURM cluster")[1]
    table = readme.split("| Profile key |")[1].split("\n\n")[0]
    checked = 0
    for line in text.splitlines():
        # a setting, or a commented-out one (`# key: value  # note`), not a comment's text
        match = re.match(r"\s*([\w-]+):\s*\S", line) or re.match(r"\s*# ([\w-]+): \S+\s+#", line)
        if not match:
            continue
        key = match[1]
        indent = len(line) - len(line.lstrip())
        under_threads = indent == 2 and key in settings["set-threads"]
        if key in CLUSTER_KEYS or under_threads:
            checked += 1
            assert "# EDIT" in line, f"profile line without EDIT: {line!r}"
            listed = "set-threads" if under_threads else key
            assert f"`{listed}" in table or f"{listed}`" in table, f"README lacks {listed}"
    # 3 at the top, 4 defaults (the account included), 3 threads, 12 under set-resources (train's
    # gres comes from the rule)
    assert checked == 22


def check_cluster_command(cwd, *args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(MEDVLM), "check-cluster", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


def test_check_cluster_refuses_a_missing_profile_and_disabled_hooks(tmp_path):
    missing = check_cluster_command(tmp_path, "--profile", tmp_path / "nowhere")
    assert missing.returncode == 2 and "no Snakemake profile found" in missing.stderr
    # The check lives in the onstart hook: with hooks off the run would submit for real.
    (tmp_path / "nohooks").mkdir()
    (tmp_path / "nohooks" / "config.yaml").write_text(PROFILE.read_text() + "no-hooks: true\n")
    refused = check_cluster_command(tmp_path, "--profile", tmp_path / "nohooks")
    assert refused.returncode == 2 and "drop no-hooks" in refused.stderr


def test_check_cluster_shows_why_snakemake_stopped_and_when_nothing_is_left(tmp_path):
    snakefile = REPO / "Snakefile"
    bad = tmp_path / "bad.yaml"
    bad.write_text("runs: [unclosed\n")
    failed = check_cluster_command(
        tmp_path, "--profile", PROFILE, "--configfile", bad, "--", "-s", snakefile
    )
    assert failed.returncode == 2, failed.stdout + failed.stderr
    assert "Snakemake stopped before the check could report:" in failed.stderr
    assert "Config file is not valid JSON or YAML" in failed.stderr
    # Only the merge, and not the data it needs: Snakemake has nothing to submit, so no check.
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump(small_synthetic_config(tmp_path)))
    nothing = ["--until", "merge", "--omit-from", "synthetic_data"]
    done = check_cluster_command(
        tmp_path, "--profile", PROFILE, "--configfile", good, "--", "-s", snakefile, *nothing
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Nothing to submit: every output is up to date" in done.stdout
