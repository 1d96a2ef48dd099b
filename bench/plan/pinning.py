"""The CPU plan: which CPUs the server, the database and the load generator may use."""

import os
from dataclasses import dataclass

from bench.errors import UsageError
from bench.model.roles import ROLES, Role

ALIASES: dict[str, Role] = {  # what --pin accepts for each role
    "server": "server",
    "database": "database",
    "db": "database",
    "loadgen": "loadgen",
    "oha": "loadgen",
}


@dataclass(frozen=True)
class CpuPlan:
    """CPUs per role (None: not pinned, inherits the harness's affinity), and why."""

    cpus: dict[Role, list[int] | None]
    source: str  # "auto", "--pin" or "--no-pin"
    note: str

    def of(self, role: Role) -> list[int] | None:
        """The CPUs for `role`, or None when unpinned."""
        return self.cpus[role]

    def used(self) -> list[int]:
        """Every CPU some role is pinned to; unpinned, every CPU this process may run on."""
        pinned = {cpu for cpus in self.cpus.values() for cpu in cpus or []}
        return sorted(pinned) if pinned else available()

    def as_dict(self) -> dict[str, object]:
        """The plan as recorded in the results metadata."""
        return {"source": self.source, "plan": dict(self.cpus), "note": self.note}


def available() -> list[int]:
    """The CPUs this process may run on."""
    return sorted(os.sched_getaffinity(0))


def auto(cpus: list[int] | None = None) -> CpuPlan:
    """The default plan: the server gets half the CPUs (alone), database and loadgen share the rest.

    On 2 CPUs: server alone on the first, database and load generator on the second.
    """
    cpus = cpus or available()
    if len(cpus) == 1:
        only = cpus[:1]
        return CpuPlan(
            {r: only for r in ROLES},
            "auto",
            f"one CPU ({only[0]}): server, database and load generator share it",
        )
    half = len(cpus) // 2
    server, rest = cpus[:half], cpus[half:]
    if len(rest) >= 2:
        db, load = rest[: len(rest) // 2], rest[len(rest) // 2 :]
        note = (
            f"server alone on {fmt(server)}, database on {fmt(db)}, load generator on {fmt(load)}"
        )
    else:
        db = load = rest
        note = (
            f"{len(cpus)} CPUs: server alone on CPU {fmt(server)}; database and load "
            f"generator share CPU {fmt(rest)}"
        )
    return CpuPlan({"server": server, "database": db, "loadgen": load}, "auto", note)


def unpinned() -> CpuPlan:
    """No pinning: every process may use every CPU the harness may use."""
    return CpuPlan(
        {r: None for r in ROLES}, "--no-pin", f"not pinned: all roles share CPUs {fmt(available())}"
    )


def parse(spec: str, cpus: list[int] | None = None) -> CpuPlan:
    """Parse `server=0-3,db=4-5,loadgen=6-7` (a bare list item continues the previous role)."""
    allowed = set(cpus or available())
    plan: dict[Role, list[int]] = {}
    role: Role | None = None
    for item in filter(None, (s.strip() for s in spec.split(","))):
        if "=" in item:
            name, _, item = item.partition("=")
            role = ALIASES.get(name.strip())
            if role is None:
                raise UsageError(f"--pin: unknown role {name!r}; use server=, db= and loadgen=")
        if role is None:
            raise UsageError(f"--pin: {item!r} has no role; write e.g. server=0,db=1,loadgen=1")
        plan.setdefault(role, []).extend(_cpu_range(item, allowed))
    missing = [r for r in ROLES if r not in plan]
    if missing:
        raise UsageError(
            f"--pin {spec!r} gives no CPUs for {', '.join(missing)}; "
            "name all three: server=..,db=..,loadgen=.."
        )
    cpus_of = {r: sorted(set(plan[r])) for r in ROLES}
    note = ", ".join(f"{r} on {fmt(c)}" for r, c in cpus_of.items())
    return CpuPlan(dict(cpus_of), "--pin", note)


def _cpu_range(text: str, allowed: set[int]) -> list[int]:
    try:
        lo, _, hi = text.partition("-")
        cpus = list(range(int(lo), int(hi or lo) + 1))
    except ValueError:
        raise UsageError(f"--pin: {text!r} is not a CPU number or range like 0-3") from None
    outside = [c for c in cpus if c not in allowed]
    if not cpus or outside:
        raise UsageError(
            f"--pin: CPU {text} is not available here; available: {fmt(sorted(allowed))}"
        )
    return cpus


def fmt(cpus: list[int]) -> str:
    """[0, 1, 2, 5] -> "0-2,5"."""
    parts: list[str] = []
    for c in sorted(cpus):
        if parts and parts[-1].split("-")[-1] == str(c - 1):
            parts[-1] = f"{parts[-1].split('-')[0]}-{c}"
        else:
            parts.append(str(c))
    return ",".join(parts)
