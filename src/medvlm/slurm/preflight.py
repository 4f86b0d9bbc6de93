"""Check every job's SLURM request against the cluster before anything is submitted.

Each mismatch is a :class:`Problem` naming the rule, the resource, the requested value, the
cluster's limit and the profile line to edit. Without an accounting database the SLURM plugin's
default status command (``sacct``) never sees a job finish, so the status command is switched
to ``squeue`` (:func:`status_command_notes`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass

from medvlm.slurm.cluster import Cluster, Gres, Partition
from medvlm.slurm.profile import ProfileLines
from medvlm.slurm.requests import JobRequest

# The SLURM plugin waits at most this long between two status checks (2.8.0, max_sleep_time):
# a job that leaves squeue sooner after it ends can be missed.
PLUGIN_MAX_STATUS_INTERVAL_S = 180


@dataclass(frozen=True)
class Problem:
    rules: tuple[str, ...]
    resource: str
    requested: str
    limit: str
    edit: str

    def __str__(self) -> str:
        who = ("rule " if len(self.rules) == 1 else "rules ") + ", ".join(self.rules)
        return f"{who}: {self.resource} {self.requested} — {self.limit}\n    edit {self.edit}"


@dataclass(frozen=True)
class Limits:
    """What one job may ask of a partition (or of the widest partition, ``where``)."""

    where: str
    max_time_minutes: int | None  # None: unlimited
    max_time_text: str
    memory_mb: int
    memory_says: str
    cpus: int
    cpus_says: str
    gres: tuple[Gres, ...]


def partition_limits(partition: Partition) -> Limits:
    where = f"partition {partition.name}"
    memory = [(partition.largest_memory_mb, f"the largest node of {where} has")]
    if partition.max_memory_mb is not None:
        memory.append((partition.max_memory_mb, f"MaxMemPerNode of {where} is"))
    cpus = [(partition.most_cpus, f"the largest node of {where} has")]
    if partition.max_cpus_per_node is not None:
        cpus.append((partition.max_cpus_per_node, f"MaxCPUsPerNode of {where} is"))
    (memory_mb, memory_says), (most_cpus, cpus_says) = min(memory), min(cpus)
    return Limits(
        where,
        partition.max_time_minutes,
        f"{partition.max_time_minutes} min ({partition.max_time_text}) of {where}",
        memory_mb,
        memory_says,
        most_cpus,
        cpus_says,
        partition.gres,
    )


def widest_limits(cluster: Cluster) -> Limits:
    """The most any partition allows: what a job on a misnamed partition is checked against."""
    each = [partition_limits(p) for p in cluster.partitions.values()]
    times = [limits.max_time_minutes for limits in each]
    longest = None if None in times else max(each, key=lambda limits: limits.max_time_minutes)
    memory = max(each, key=lambda limits: limits.memory_mb)
    cpus = max(each, key=lambda limits: limits.cpus)
    return Limits(
        "any partition here",
        None if longest is None else longest.max_time_minutes,
        "" if longest is None else f"the longest MaxTime here, {longest.max_time_text}",
        memory.memory_mb,
        f"no partition here fits it: {memory.memory_says}",
        cpus.cpus,
        f"no partition here fits it: {cpus.cpus_says}",
        tuple(dict.fromkeys(g for limits in each for g in limits.gres)),
    )


def _resource_lines(rule: str, key: str) -> list[str]:
    return [f"set-resources: {rule}: {key}", f"default-resources: {key}"]


def _partition_problem(request: JobRequest, cluster: Cluster) -> tuple[Limits, str | None]:
    """The limits a request is checked against, and what is wrong with its partition."""
    names = ", ".join(
        p.name + (" (default)" if p.default else "") for p in cluster.partitions.values()
    )
    if request.partition is None:
        partition = cluster.default_partition
        if partition is None:
            return widest_limits(cluster), f"the cluster has no default partition; here: {names}"
    else:
        partition = cluster.partitions.get(request.partition)
        if partition is None:
            return widest_limits(cluster), f"no such partition; partitions here: {names}"
    if partition.state != "UP":
        return partition_limits(partition), f"it is {partition.state}, not UP: no job starts"
    return partition_limits(partition), None


def _gres_fits(wanted: Gres, have: tuple[Gres, ...]) -> bool:
    return any(
        g.name == wanted.name and wanted.type in (None, g.type) and g.count >= wanted.count
        for g in have
    )


def check_request(request: JobRequest, cluster: Cluster, profile: ProfileLines) -> list[Problem]:
    """Every way one job's request cannot be met by ``cluster``."""
    rule = request.rule

    def problem(resource, requested, limit, lines):
        return Problem((rule,), resource, requested, limit, profile.where(lines))

    limits, partition_problem = _partition_problem(request, cluster)
    problems = []
    if partition_problem:
        problems.append(
            problem(
                "slurm_partition",
                f"'{request.partition or '(default)'}'",
                partition_problem,
                _resource_lines(rule, "slurm_partition"),
            )
        )
    runtime, max_time = request.runtime_minutes, limits.max_time_minutes
    if runtime is not None and max_time is not None and runtime > max_time:
        problems.append(
            problem(
                "runtime",
                f"{runtime} min",
                f"above MaxTime {limits.max_time_text}: the job would pend forever "
                "(PartitionTimeLimit)",
                _resource_lines(rule, "runtime"),
            )
        )
    if request.memory_mb is not None and request.memory_mb > limits.memory_mb:
        problems.append(
            problem(
                request.memory_key,
                f"{request.memory_mb} MB",
                f"{limits.memory_says} {limits.memory_mb} MB",
                _resource_lines(rule, request.memory_key),
            )
        )
    if request.cpus is not None and request.cpus > limits.cpus:
        problems.append(
            problem(
                f"CPUs ({request.cpus_key})",
                str(request.cpus),
                f"{limits.cpus_says} {limits.cpus} CPUs",
                [f"set-threads: {rule}"]
                if request.cpus_key == "threads"
                else _resource_lines(rule, request.cpus_key),
            )
        )
    for gres in request.gres:
        if not _gres_fits(gres.gres, limits.gres):
            have = ", ".join(str(g) for g in limits.gres) or "no GRES"
            problems.append(
                problem(
                    "/".join(gres.keys),
                    str(gres.gres),
                    f"no node of {limits.where} has it; the nodes have {have}",
                    [line for key in gres.keys for line in _resource_lines(rule, key)],
                )
            )
    return problems


def check_requests(
    requests: Iterable[JobRequest], cluster: Cluster, profile: ProfileLines
) -> list[Problem]:
    """The problems of all jobs, each once, with the rules that share one (same value, same
    profile line) named together."""
    rules: dict[tuple[str, str, str, str], list[str]] = {}
    for request in requests:
        for p in check_request(request, cluster, profile):
            found = rules.setdefault((p.resource, p.requested, p.limit, p.edit), [])
            if request.rule not in found:
                found.append(request.rule)
    problems = [Problem(tuple(sorted(names)), *key) for key, names in rules.items()]
    return sorted(problems, key=lambda p: p.rules)  # stable: one rule's checks keep their order


def status_command_notes(
    cluster: Cluster, status_command: str | None, init_seconds: int, profile: ProfileLines
) -> tuple[str | None, list[str], list[Problem]]:
    """The status command to use, notes to show and problems, given the cluster's accounting.

    The plugin keeps ``squeue`` only while MinJobAge ≥ 3 × its first status-check delay
    (it falls back to ``sacct`` below that), and a finished job must stay in squeue longer than
    the plugin's longest wait between checks.
    """
    if cluster.accounting:
        return status_command, [], []
    notes, problems = [], []
    if status_command != "squeue":
        notes.append(
            f"no accounting database here (sacct: {cluster.accounting_message or 'fails'}): "
            "status checks switched from sacct to squeue for this run; to set it yourself: "
            f"{profile.where(['slurm-status-command'])}"
        )
    age = cluster.min_job_age_s
    if age is None or age < 3 * init_seconds:
        problems.append(
            Problem(
                ("(status checks)",),
                "slurm-init-seconds-before-status-checks",
                f"{init_seconds} s",
                f"MinJobAge is {age if age is not None else 'unknown'} s: the plugin keeps "
                f"squeue only while MinJobAge ≥ 3 × this value, and sacct has no accounting "
                f"here; set it to at most {(age or 0) // 3}",
                profile.where(["slurm-init-seconds-before-status-checks"]),
            )
        )
    elif age <= PLUGIN_MAX_STATUS_INTERVAL_S:
        notes.append(
            f"MinJobAge is {age} s: a job that ends while the plugin waits up to "
            f"{PLUGIN_MAX_STATUS_INTERVAL_S} s between status checks can vanish from squeue "
            "unseen (the run then waits for it); ask the admins for MinJobAge ≥ 300 s"
        )
    return "squeue", notes, problems


@dataclass(frozen=True)
class Report:
    """The outcome of one check, as the workflow and ``medvlm check-cluster`` show it."""

    jobs: int
    cluster: list[str]
    notes: list[str]
    problems: list[Problem]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Report:
        return cls(
            data["jobs"],
            data["cluster"],
            data["notes"],
            [Problem(**{**p, "rules": tuple(p["rules"])}) for p in data["problems"]],
        )

    def problems_text(self) -> str:
        """What does not fit, one entry per problem with the line to edit."""
        return (
            f"The SLURM profile asks for what this cluster cannot give "
            f"({len(self.problems)} problem(s) in {self.jobs} job(s)); nothing was submitted.\n"
            + "\n".join(f"  {p}" for p in self.problems)
        )

    def cluster_text(self) -> str:
        return "The cluster:\n" + "\n".join(f"  {line}" for line in self.cluster)
