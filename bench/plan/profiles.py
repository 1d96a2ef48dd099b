"""Plans: a profile's sweeps (with command-line overrides) turned into cells, skips and estimates.

A sweep gives each axis a list of values; its cells are the cross product, variants innermost
(each load shape visits every variant before the next, which spreads the machine's drift),
minus the combinations that mean nothing for a variant. The plan is the union of the sweeps.
"""

import itertools
import re
from collections.abc import Iterator, Sequence
from typing import Any

from bench.errors import UsageError
from bench.model.plan import CellSpec, Measure, Params, Plan, Skip, Sweep
from bench.plan.matrix import Variant, reference, table

AXES = (
    "runtime", "workers", "pool", "overflow", "concurrency", "keepalive", "limit",
    "net", "db_rtt_ms", "http_rtt_ms", "host_check",
)  # fmt: skip
# The topology axes' defaults, when a matrix file names none (a sweep lists them only when
# it leaves loopback, so the plans of older matrix files are unchanged).
NETWORK_AXES: dict[str, list[Any]] = {"net": ["loopback"], "db_rtt_ms": [0.0], "http_rtt_ms": [0.0]}
# The defaults of the axes a matrix file may leave out; a sweep lists an axis of these only
# where it differs from its default (the plans of older matrix files are unchanged).
UNSAID_AXES: dict[str, list[Any]] = {**NETWORK_AXES, "host_check": [True]}
SWITCHES = ("keepalive", "host_check")  # on/off axes
NETS = ("loopback", "namespaces")
RTT_BOUNDS_MS = (0.0, 100.0)  # an added round trip, in milliseconds
BOUNDS = {
    "workers": (1, 64),
    "pool": (1, 50),
    "overflow": (0, 50),
    "concurrency": (1, 1000),
    "limit": (1, 2000),
}
MAX_CONNECTIONS = 90  # workers x (pool + overflow): Postgres allows 100, a few for the harness
# Why an axis means nothing for a variant (its value is then None and the cell measured once).
NOT_APPLICABLE = {
    "runtime": "one tokio runtime",
    "workers": "one worker thread per CPU",
    "overflow": "its pool has no overflow",
}
MAX_DURATION_S = 600.0  # every load loop is bounded in time
MAX_REQUESTS = 1_000_000  # ... and in count
# Measured with `nox -s bench` on the 2-CPU development machine (README): a Python server
# starts, answers /health and passes verification in about 1 s, Axum in 0.3 s; a 10 s repeat
# takes 10.1 s; Postgres, the metadata and the report about 8 s.
START_S = {"python": 1.2, "rust": 0.5}  # start, health check and verification of one cell
REPEAT_OVERHEAD_S = 0.2  # oha start-up, in-flight requests at the deadline, sampling
RUN_OVERHEAD_S = 8.0  # Postgres, metadata, the report
PROBES_OVERHEAD_S = 2.0  # starting Axum for the HTTP ceiling, pgbench's connections


def names() -> list[str]:
    """The profile names declared in matrix.toml."""
    return list(table()["profiles"])


def variants(profile: str) -> list[str] | None:
    """The variants a profile names (None: every variant not marked opt_in)."""
    return _profile(profile).get("variants")


def seconds(text: str, what: str) -> float:
    """Parse "10s", "2.5s", "1m" or "500ms" into seconds; anything else is a UsageError."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m)?\s*", str(text))
    if not match:
        raise UsageError(f"{what} {text!r} is not a duration; write e.g. 10s, 500ms or 1m")
    return float(match[1]) * {"ms": 0.001, "s": 1.0, "m": 60.0}[match[2] or "s"]


def _profile(name: str) -> dict[str, Any]:
    profiles = table()["profiles"]
    if name not in profiles:
        raise UsageError(f"unknown profile {name!r}; known profiles: {', '.join(profiles)}")
    return dict(profiles[name])


def measure(profile: str, **overrides: Any) -> Measure:
    """The profile's measurement settings with command-line overrides (None is ignored)."""
    spec = _profile(profile)
    base = Measure(
        duration_s=seconds(spec["duration"], "duration") if "duration" in spec else None,
        requests=spec.get("requests"),
        warmup_s=seconds(spec.get("warmup", "0s"), "warmup"),
        repeats=int(spec.get("repeats", 1)),
    )
    given = {k: v for k, v in overrides.items() if v is not None}
    if "duration_s" in given and "requests" in given:
        raise UsageError("--duration and --requests contradict each other; give one")
    if "duration_s" in given:
        given["requests"] = None
    elif "requests" in given:
        given["duration_s"] = None
    return check_measure(base.model_copy(update=given))


def check_measure(m: Measure) -> Measure:
    """Refuse measurement settings outside the bounds every load loop must respect."""
    if m.duration_s is not None and not 0 < m.duration_s <= MAX_DURATION_S:
        raise UsageError(f"--duration must be above 0 and at most {MAX_DURATION_S:g}s")
    if m.requests is not None and not 1 <= m.requests <= MAX_REQUESTS:
        raise UsageError(f"--requests {m.requests} is out of range; use 1-{MAX_REQUESTS}")
    if not 0 <= m.warmup_s <= MAX_DURATION_S:
        raise UsageError(f"--warmup must be between 0 and {MAX_DURATION_S:g}s")
    if not 1 <= m.repeats <= 100:
        raise UsageError(f"--repeats {m.repeats} is out of range; use 1-100")
    return m


def parse_axis(axis: str, text: str) -> list[Any]:
    """A comma-separated command-line list for `axis`, e.g. "1,10,100" or "on,off"."""
    items = [t.strip() for t in str(text).split(",")]
    if "" in items:
        example = {"runtime": "uvicorn,granian", "keepalive": "on,off"}.get(axis, "1,10")
        raise UsageError(f"--{axis} {text!r} has an empty item; write e.g. --{axis} {example}")
    if axis in SWITCHES:
        flags = {"on": True, "true": True, "yes": True, "off": False, "false": False, "no": False}
        if bad := [t for t in items if t.lower() not in flags]:
            option = f"--{flag(axis)}"
            raise UsageError(f"{option} {bad[0]!r} is not on or off; write {option} on,off")
        return check_axis(axis, [flags[t.lower()] for t in items])
    if axis in NETWORK_AXES and axis != "net":
        try:
            return check_axis(axis, [float(t) for t in items])
        except ValueError:
            raise UsageError(
                f"--{flag(axis)} {text!r} is not a list of milliseconds; write e.g. "
                f"--{flag(axis)} 0,0.2,1,2"
            ) from None
    if axis in BOUNDS:
        if bad := [t for t in items if not t.isdigit()]:
            raise UsageError(f"--{axis} {bad[0]!r} is not a whole number; write e.g. --{axis} 1,10")
        return check_axis(axis, [int(t) for t in items])
    return check_axis(axis, items)


def check_axis(axis: str, values: Sequence[Any]) -> list[Any]:
    """Refuse unknown axes and values outside their range, naming the allowed ones."""
    if axis not in AXES:
        raise UsageError(f"unknown axis {axis!r} in matrix.toml; axes are {', '.join(AXES)}")
    values = list(dict.fromkeys(values))
    if not values:
        raise UsageError(f"axis {axis} has no values; give at least one")
    choices = {"runtime": ("auto", *table()["runtimes"]), "net": NETS}.get(axis)
    for value in values:
        if choices is not None and value not in choices:
            raise UsageError(f"--{axis} {value!r} is unknown; use {', '.join(choices)}")
        if axis in ("db_rtt_ms", "http_rtt_ms"):
            lo, hi = RTT_BOUNDS_MS
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not lo <= value <= hi
            ):
                raise UsageError(
                    f"--{flag(axis)} {value:g} is out of range; use {lo:g}-{hi:g} (milliseconds)"
                )
        if axis in BOUNDS:
            lo, hi = BOUNDS[axis]
            if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
                raise UsageError(f"--{axis} {value} is out of range; use {lo}-{hi}")
        if axis in SWITCHES and not isinstance(value, bool):
            raise UsageError(f"{axis} {value!r} is not on or off (true or false in matrix.toml)")
    return values


def flag(axis: str) -> str:
    """The command-line option of `axis`, without its dashes (db_rtt_ms: db-rtt-ms)."""
    return axis.replace("_", "-")


def parse_rates(given: str) -> list[float]:
    """--open-loop: fractions of each closed-loop cell's median throughput ("0.5,0.9"), or
    "none"."""
    if given.strip().lower() == "none":
        return []
    try:
        return check_rates([float(t) for t in given.split(",")])
    except ValueError:
        raise UsageError(
            f"--open-loop {given!r} is not a list of fractions; write e.g. 0.5,0.9 or none"
        ) from None


def check_rates(rates: Sequence[float]) -> list[float]:
    """Open-loop rates must be fractions in (0, 1]; returned sorted, without duplicates."""
    if bad := [r for r in rates if not 0 < r <= 1]:
        raise UsageError(f"--open-loop {bad[0]:g} is out of range; use fractions in (0, 1]")
    return sorted(set(rates))


def _sweeps(
    profile: str, overrides: dict[str, list[Any]], rates: Sequence[float] | None
) -> Iterator[tuple[str, dict[str, list[Any]], list[float], list[str] | None]]:
    """Each sweep: its name, its axes, its open-loop rates (`rates` if given, else the
    sweep's or the profile's `open_loop`) and the variants it is limited to (None: all)."""
    spec = _profile(profile)
    base = {**UNSAID_AXES, **table()["axes"], **spec.get("axes", {})}
    for raw in spec.get("sweeps") or [{}]:
        sweep = dict(raw)
        name = sweep.pop("name", None)
        own = sweep.pop("open_loop", spec.get("open_loop", []))
        only = sweep.pop("variants", None)
        axes = {axis: check_axis(axis, v) for axis, v in {**base, **sweep, **overrides}.items()}
        varying = [a for a in AXES if len(axes[a]) > 1]
        title = name or " x ".join(varying) or "single shape"
        kept = [a for a in AXES if a not in NETWORK_AXES or axes["net"] != ["loopback"]]
        axes = {a: axes[a] if a in kept else UNSAID_AXES[a] for a in AXES}
        yield title, axes, check_rates(own if rates is None else rates), only


def build(
    profile: str,
    variants: list[Variant],
    measure: Measure,
    overrides: dict[str, list[Any]],
    rates: Sequence[float] | None = None,
) -> Plan:
    """The plan: the union of the profile's sweeps over `variants`, with skips and reasons.

    Each load shape's closed-loop cells come first (variants innermost), then for each open-
    loop rate (`rates`, or each sweep's) an open-loop cell per variant at that fraction of
    its closed-loop median.
    """
    cells: dict[str, CellSpec] = {}
    skips: list[Skip] = []
    sweeps = []
    for name, axes, sweep_rates, only in _sweeps(profile, overrides, rates):
        ids: list[str] = []
        for combo in itertools.product(*axes.values()):
            wanted = dict(zip(axes, combo, strict=True))
            shape: list[CellSpec] = []
            for variant in (v for v in variants if only is None or v.name in only):
                spec, reason = _resolve(variant, wanted)
                if spec is None or (reason and spec.id in cells):
                    skip = Skip(variant=variant.name, axes=wanted, reason=reason)
                    skips += [] if skip in skips else [skip]
                    continue
                shape.append(spec)
            shape += [_opened(spec, rate) for rate in sweep_rates for spec in shape]
            for spec in shape:
                cells.setdefault(spec.id, spec)
                ids += [] if spec.id in ids else [spec.id]
        shown = {a: v for a, v in axes.items() if a not in UNSAID_AXES or v != UNSAID_AXES[a]}
        sweeps.append(Sweep(name=name, axes=shown, cells=ids))
    if not cells:
        raise UsageError(
            f"every cell of this plan is skipped ({skips[0].reason if skips else 'no variants'}); "
            "change --variants or the axis values"
        )
    return Plan(
        profile=profile,
        note=_profile(profile).get("note", ""),
        measure=measure,
        sweeps=sweeps,
        cells=list(cells.values()),
        skips=skips,
        reference=reference(),
    )


def _opened(closed: CellSpec, rate: float) -> CellSpec:
    """The open-loop cell at `rate` (a fraction of its median) of a closed-loop cell."""
    return CellSpec(
        variant=closed.variant,
        params=closed.params.model_copy(update={"mode": "open", "rate": rate}),
    )


def _resolve(variant: Variant, wanted: dict[str, Any]) -> tuple[CellSpec | None, str]:
    """The cell for `variant` at the `wanted` axis values, or None; and why axes were dropped."""
    if variant.python and wanted["runtime"] not in ("auto", *variant.runtimes):
        return None, f"{variant.name} runs on {', '.join(variant.runtimes)} only"
    moot = [] if variant.python else ["runtime", "workers"]
    moot += [] if variant.overflow else ["overflow"]
    links = ["db_rtt_ms", "http_rtt_ms"] if wanted["net"] == "loopback" else []
    params = {**wanted, **dict.fromkeys(moot + links)}
    if variant.python and wanted["runtime"] == "auto":
        params["runtime"] = variant.runtime
    cell = CellSpec(variant=variant.name, params=Params(**params))
    if (connections := cell.params.connections()) > MAX_CONNECTIONS:
        raise UsageError(
            f"workers x (pool + overflow) = {connections} database connections for "
            f"{variant.name}; keep it at most {MAX_CONNECTIONS} (Postgres allows 100)"
        )
    reason = ""
    if dropped := [a for a in moot if wanted[a] != table()["axes"][a][0]]:
        axes = f"{' and '.join(dropped)} {'axes mean' if len(dropped) > 1 else 'axis means'}"
        why = "; ".join(NOT_APPLICABLE[a] for a in dropped)
        reason = f"the {axes} nothing for {variant.name} ({why}): measured once"
    if [a for a in links if wanted[a]]:
        reason = "an added round trip means nothing on loopback (no link to delay): measured once"
    return cell, reason


def default_params() -> Params:
    """The default load shape and pool (matrix.toml's [axes]), for the run-level probes."""
    axes = {a: v[0] for a, v in table()["axes"].items() if a not in ("runtime", "workers")}
    axes |= {"net": "loopback", "db_rtt_ms": None, "http_rtt_ms": None}  # probes: loopback
    return Params(**{**axes, "runtime": None, "workers": None, "overflow": None})


def estimate(cell: CellSpec, variants: dict[str, Variant], m: Measure) -> float:
    """Estimated seconds to measure `cell`: each repeat starts, verifies, warms up and
    measures a fresh server."""
    variant = variants[cell.variant]
    per_repeat = m.duration_s if m.duration_s else (m.requests or 0) / variant.rps_hint
    return m.repeats * (START_S[variant.kind] + m.warmup_s + per_repeat + REPEAT_OVERHEAD_S)


def probe_seconds(m: Measure) -> float:
    """How long each ceiling probe measures: the cells' duration (10 s for -n plans)."""
    return m.duration_s or 10.0


def total_estimate(cells: Sequence[CellSpec], variants: dict[str, Variant], m: Measure) -> float:
    """Estimated seconds for a run of `cells`: set-up, the two ceilings and the report included."""
    probes = 2 * probe_seconds(m) + m.warmup_s + PROBES_OVERHEAD_S
    return RUN_OVERHEAD_S + probes + sum(estimate(c, variants, m) for c in cells)
