"""How far each CPU's speed moved over a run, from the machine canary around every repeat.

Each CPU's canary readings (before and after every repeat) are compared with that CPU's
median over the run; a repeat with a reading more than DRIFT away from it is flagged: the
machine, not the code, may have moved its number.
"""

import statistics
from dataclasses import dataclass

from bench.model.results import CanaryReading, Cell, Repeat, Run

DRIFT = 0.10  # a canary reading this far from its CPU's run median flags the repeat


@dataclass(frozen=True)
class CpuSpeed:
    """One CPU's canary over the run: its median, fastest and slowest reading, steal time."""

    cpu: str
    readings: int
    median_ms: float
    fastest_ms: float
    slowest_ms: float
    steal_s: float  # stolen by the hypervisor between the first and the last reading

    @property
    def moved(self) -> float:
        """The slowest reading over the fastest, minus one (0.25: 25% slower at worst)."""
        return self.slowest_ms / self.fastest_ms - 1


@dataclass(frozen=True)
class Flag:
    """A repeat whose canary strayed from its CPU's median by more than DRIFT."""

    cell: Cell
    repeat: Repeat
    cpu: str
    ms: float
    off: float  # the reading over the median, minus one (+0.14: 14% slower)


def speeds(run: Run) -> list[CpuSpeed]:
    """Each canaried CPU's speed over the run (no entry when no repeat carries a canary)."""
    readings = [reading for c in run.cells for rep in c.repeats for reading in _both(rep)]
    cpus = sorted({cpu for r in readings for cpu in r.ms}, key=int)
    found = []
    for cpu in cpus:
        ms = [r.ms[cpu] for r in readings if cpu in r.ms]
        steal = [r.steal_s[cpu] for r in readings if cpu in r.steal_s]
        stolen = max(steal) - min(steal) if steal else 0.0
        found.append(CpuSpeed(cpu, len(ms), statistics.median(ms), min(ms), max(ms), stolen))
    return found


def flags(run: Run, drift: float = DRIFT) -> list[Flag]:
    """Repeats with a canary reading more than `drift` away from its CPU's run median."""
    medians = {s.cpu: s.median_ms for s in speeds(run)}
    found = []
    for cell in run.cells:
        for repeat in cell.repeats:
            offs = [
                (cpu, ms, ms / medians[cpu] - 1)
                for reading in _both(repeat)
                for cpu, ms in reading.ms.items()
            ]
            worst = max(offs, key=lambda off: abs(off[2]), default=None)
            if worst and abs(worst[2]) > drift:
                found.append(Flag(cell, repeat, *worst))
    return found


def _both(repeat: Repeat) -> list[CanaryReading]:
    return [repeat.canary.before, repeat.canary.after] if repeat.canary else []
