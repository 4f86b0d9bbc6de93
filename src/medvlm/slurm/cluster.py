"""What a SLURM cluster offers, as ``scontrol`` and ``sacct`` report it.

Partitions with their limits (MaxTime, MaxMemPerNode, MaxCPUsPerNode, state), the nodes of each
partition (CPUs, memory, GRES), whether the accounting database answers, and MinJobAge (how
long a finished job stays visible to ``squeue``).
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass

COMMAND_TIMEOUT_S = 60


class ClusterError(RuntimeError):
    """The cluster could not be read (a command is missing, fails or times out)."""


@dataclass(frozen=True)
class Gres:
    """One generic resource of a node (``gpu:a100:2``) or of a request (``gpu:1``)."""

    name: str
    type: str | None
    count: int

    def __str__(self) -> str:
        return ":".join(part for part in (self.name, self.type, str(self.count)) if part)


@dataclass(frozen=True)
class Node:
    name: str
    cpus: int
    memory_mb: int
    gres: tuple[Gres, ...]


@dataclass(frozen=True)
class Partition:
    name: str
    default: bool
    state: str
    max_time_minutes: int | None  # None: unlimited
    max_time_text: str
    max_memory_mb: int | None  # MaxMemPerNode; None: unlimited
    max_cpus_per_node: int | None  # None: unlimited
    nodes: tuple[Node, ...]

    @property
    def largest_memory_mb(self) -> int:
        return max((node.memory_mb for node in self.nodes), default=0)

    @property
    def most_cpus(self) -> int:
        return max((node.cpus for node in self.nodes), default=0)

    @property
    def gres(self) -> tuple[Gres, ...]:
        """Every GRES of the partition's nodes, each once."""
        return tuple(dict.fromkeys(gres for node in self.nodes for gres in node.gres))


@dataclass(frozen=True)
class Cluster:
    partitions: dict[str, Partition]
    accounting: bool
    accounting_message: str  # what sacct said when it failed ("" when it answered)
    min_job_age_s: int | None

    @property
    def default_partition(self) -> Partition | None:
        return next((p for p in self.partitions.values() if p.default), None)

    def summary(self) -> list[str]:
        """One line per partition: limits and nodes, as a user sizes requests by them."""
        lines = []
        for partition in self.partitions.values():
            gres = ", ".join(str(g) for g in partition.gres) or "none"
            cap = partition.max_memory_mb
            lines.append(
                f"{partition.name}{' (default)' if partition.default else ''}: "
                f"state {partition.state}, MaxTime {partition.max_time_text}, "
                f"{len(partition.nodes)} node(s), largest {partition.most_cpus} CPUs / "
                f"{partition.largest_memory_mb} MB"
                + (f" (MaxMemPerNode {cap} MB)" if cap else "")
                + f", GRES {gres}"
            )
        lines.append(
            "accounting: "
            + ("sacct answers" if self.accounting else f"none ({self.accounting_message})")
            + f"; MinJobAge {self.min_job_age_s if self.min_job_age_s is not None else '?'} s"
        )
        return lines


# --- parsing -------------------------------------------------------------------------------

_FIELD_START = re.compile(r"\s+(?=[A-Za-z][\w/:.]*=)")


def parse_records(text: str) -> list[dict[str, str]]:
    """``scontrol show ... --oneliner`` output: one ``Key=Value ...`` record per line.

    Values may hold spaces (``OS=Linux 6.1 #1 SMP``) and ``=`` (``TRES=cpu=16,mem=8000M``), so
    a field starts only where whitespace is followed by ``Key=``.
    """
    records = []
    for line in text.splitlines():
        if not line.strip():
            continue
        fields = _FIELD_START.split(line.strip())
        records.append(dict(field.split("=", 1) for field in fields if "=" in field))
    return records


def parse_time_limit(text: str) -> int | None:
    """A SLURM time limit in minutes (seconds dropped); None for UNLIMITED/INFINITE.

    Formats: ``M``, ``M:S``, ``H:M:S``, ``D-H``, ``D-H:M``, ``D-H:M:S``.
    """
    text = text.strip()
    if text.upper() in {"UNLIMITED", "INFINITE", "NONE", ""}:
        return None
    days, _, clock = text.rpartition("-")
    parts = [int(p) for p in clock.split(":")]
    if days:
        hours, minutes, seconds = (parts + [0, 0])[:3]
    elif len(parts) == 3:
        hours, minutes, seconds = parts
    else:
        hours = 0
        minutes, seconds = (parts + [0])[:2]
    return (int(days or 0) * 24 + hours) * 60 + minutes + seconds // 60


_COUNT = re.compile(r"^(\d+)([KMGT]?)$")
_SUFFIX = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}


def parse_gres_item(text: str) -> Gres:
    """``name``, ``name:count``, ``name:type`` or ``name:type:count`` (count may end in K/M/G/T)."""
    parts = text.strip().split(":")
    count = 1
    match = _COUNT.match(parts[-1]) if len(parts) > 1 else None
    if match:
        count = int(match[1]) * _SUFFIX[match[2]]
        parts = parts[:-1]
    return Gres(parts[0], parts[1] if len(parts) > 1 else None, count)


def parse_gres(text: str) -> tuple[Gres, ...]:
    """A node's ``Gres=`` field: ``gpu:a100:2(S:0-1),shard:8``; ``(null)`` for none."""
    text = re.sub(r"\([^)]*\)", "", text.strip())
    return tuple(parse_gres_item(item) for item in text.split(",") if item.strip())


def _limit(text: str | None) -> int | None:
    return int(text) if text and text.isdigit() else None


def parse_nodes(text: str) -> dict[str, tuple[Node, tuple[str, ...]]]:
    """``scontrol show node -o`` → node name → (node, names of its partitions)."""
    nodes = {}
    for record in parse_records(text):
        name = record.get("NodeName")
        if not name:
            continue
        memory = int(record.get("RealMemory", "0")) - (_limit(record.get("MemSpecLimit")) or 0)
        node = Node(
            name=name,
            cpus=int(record.get("CPUEfctv") or record.get("CPUTot") or 0),
            memory_mb=memory,
            gres=parse_gres(record.get("Gres", "")),
        )
        partitions = tuple(p for p in record.get("Partitions", "").split(",") if p)
        nodes[name] = (node, partitions)
    return nodes


def parse_partitions(partition_text: str, node_text: str) -> dict[str, Partition]:
    """``scontrol show partition -o`` plus ``scontrol show node -o`` → partitions by name."""
    nodes = parse_nodes(node_text)
    partitions = {}
    for record in parse_records(partition_text):
        name = record.get("PartitionName")
        if not name:
            continue
        max_time = record.get("MaxTime", "UNLIMITED")
        partitions[name] = Partition(
            name=name,
            default=record.get("Default") == "YES",
            state=record.get("State", "UP"),
            max_time_minutes=parse_time_limit(max_time),
            max_time_text=max_time,
            max_memory_mb=_limit(record.get("MaxMemPerNode")),
            max_cpus_per_node=_limit(record.get("MaxCPUsPerNode")),
            nodes=tuple(node for node, parts in nodes.values() if name in parts),
        )
    return partitions


def parse_min_job_age(config_text: str) -> int | None:
    """MinJobAge in seconds from ``scontrol show config`` (``MinJobAge = 300 sec``)."""
    match = re.search(r"^MinJobAge\s*=\s*(\d+)\s*(\w*)", config_text, re.MULTILINE)
    if not match:
        return None
    return int(match[1]) * (3600 if match[2].lower() in {"h", "hour", "hours"} else 1)


# --- reading the live cluster ----------------------------------------------------------------


def _run(command: list[str]) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(
            command, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=False
        )
    except FileNotFoundError:
        raise ClusterError(
            f"`{command[0]}` is not installed here: is this a SLURM login node?"
        ) from None
    except subprocess.TimeoutExpired:
        message = f"`{' '.join(command)}` did not answer in {COMMAND_TIMEOUT_S} s"
        raise ClusterError(message) from None


def _output(command: list[str]) -> str:
    result = _run(command)
    if result.returncode != 0:
        raise ClusterError(
            f"`{' '.join(command)}` failed (exit {result.returncode}): "
            f"{(result.stderr or result.stdout).strip()}"
        )
    return result.stdout


def read_cluster() -> Cluster:
    """Ask the cluster itself (scontrol, sacct); raise :class:`ClusterError` when it won't say."""
    partitions = parse_partitions(
        _output(["scontrol", "show", "partition", "--oneliner"]),
        _output(["scontrol", "show", "node", "--oneliner"]),
    )
    if not partitions:
        raise ClusterError("`scontrol show partition` lists no partitions")
    # The same question the SLURM plugin's default status command asks (sacct -X ...).
    try:
        sacct = _run(["sacct", "--noheader", "--allocations", "--format=JobID"])
        accounting = sacct.returncode == 0
        message = "" if accounting else (sacct.stderr or sacct.stdout).strip()
    except ClusterError as error:
        accounting, message = False, str(error)
    return Cluster(
        partitions=partitions,
        accounting=accounting,
        accounting_message=message,
        min_job_age_s=parse_min_job_age(_output(["scontrol", "show", "config"])),
    )
