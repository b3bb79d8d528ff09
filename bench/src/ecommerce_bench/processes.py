"""CPU time and memory of the stack's processes, read from ``/proc`` (Linux).

A *group* is a process and, optionally, its descendants: one service, the PostgreSQL server (the
postmaster and every backend), RabbitMQ (``beam.smp`` and its helpers). A group's CPU time is the sum of
utime + stime + cutime + cstime over its live members: when a member exits and its parent reaps it, its
time moves into the parent's cutime, so the sum stays continuous across short-lived PostgreSQL backends.
Only differences between two readings mean anything.
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
TICK = os.sysconf("SC_CLK_TCK")
MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class ProcessGroup:
    """A named set of processes measured together; ``descendants`` adds every child of the roots."""

    name: str
    roots: tuple[int, ...]
    descendants: bool = True


@dataclass(frozen=True, slots=True)
class _Stat:
    ppid: int
    comm: str
    own_ticks: int  # utime + stime
    child_ticks: int  # cutime + cstime


def _read_stat(pid: int) -> _Stat | None:
    try:
        raw = (PROC / str(pid) / "stat").read_text()
    except OSError:  # gone meanwhile
        return None
    # "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split at the last ')'.
    comm = raw[raw.index("(") + 1 : raw.rindex(")")]
    fields = raw[raw.rindex(")") + 2 :].split()
    # fields[0] is field 3 of proc(5): ppid is 4, utime 14, stime 15, cutime 16, cstime 17.
    return _Stat(
        ppid=int(fields[1]),
        comm=comm,
        own_ticks=int(fields[11]) + int(fields[12]),
        child_ticks=int(fields[13]) + int(fields[14]),
    )


def _all_processes() -> dict[int, _Stat]:
    table = {}
    for entry in PROC.iterdir():
        if entry.name.isdigit() and (stat := _read_stat(int(entry.name))) is not None:
            table[int(entry.name)] = stat
    return table


def _members(group: ProcessGroup, table: dict[int, _Stat]) -> set[int]:
    members = {pid for pid in group.roots if pid in table}
    if not group.descendants:
        return members
    children: dict[int, list[int]] = defaultdict(list)
    for pid, stat in table.items():
        children[stat.ppid].append(pid)
    todo = list(members)
    while todo:
        for child in children[todo.pop()]:
            if child not in members:
                members.add(child)
                todo.append(child)
    return members


def cpu_seconds(groups: list[ProcessGroup]) -> dict[str, float]:
    """CPU seconds each group has used so far (compare two readings)."""
    table = _all_processes()
    totals = {}
    for group in groups:
        members = _members(group, table)
        ticks = 0
        for pid in members:
            stat = table[pid]
            ticks += stat.own_ticks + (stat.child_ticks if group.descendants else 0)
        totals[group.name] = ticks / TICK
    return totals


def _status_kib(pid: int, field: str) -> int | None:
    try:
        for line in (PROC / str(pid) / "status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _pss_kib(pid: int) -> int | None:
    try:
        for line in (PROC / str(pid) / "smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


@dataclass(frozen=True, slots=True)
class MemoryUse:
    """Resident memory now and at its peak (VmHWM), MiB. For a group of several processes ``rss`` is the
    sum of their PSS (shared pages counted once, shared among them) and ``peak`` is unknown."""

    rss: float
    peak: float | None


def memory(groups: list[ProcessGroup]) -> dict[str, MemoryUse]:
    """Memory of each group now."""
    table = _all_processes()
    result = {}
    for group in groups:
        members = _members(group, table)
        if len(members) == 1:
            (pid,) = members
            rss, peak = _status_kib(pid, "VmRSS"), _status_kib(pid, "VmHWM")
            if rss is not None:
                result[group.name] = MemoryUse(rss * 1024 / MIB, peak * 1024 / MIB if peak else None)
            continue
        pss = [kib for pid in members if (kib := _pss_kib(pid) or _status_kib(pid, "VmRSS")) is not None]
        if pss:
            result[group.name] = MemoryUse(sum(pss) * 1024 / MIB, None)
    return result


def _cmdline(pid: int) -> str:
    try:
        return (PROC / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def postgres_servers() -> tuple[int, ...]:
    """The postmasters: ``postgres`` processes whose parent is not one."""
    table = _all_processes()
    return tuple(
        pid
        for pid, stat in table.items()
        if stat.comm == "postgres" and (stat.ppid not in table or table[stat.ppid].comm != "postgres")
    )


def rabbitmq_nodes() -> tuple[int, ...]:
    """The RabbitMQ nodes: ``beam.smp`` processes booting ``rabbit`` (not a ``rabbitmqctl`` call)."""
    return tuple(
        pid
        for pid, stat in _all_processes().items()
        if stat.comm == "beam.smp" and "-s rabbit boot" in _cmdline(pid)
    )


def process_exists(pid: int) -> bool:
    """Whether ``pid`` is still in the process table (a zombie counts: not reaped yet)."""
    return (PROC / str(pid)).exists()
