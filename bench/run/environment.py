"""Environment metadata recorded with every run: machine, tools, versions, git state."""

import json
import os
import platform
import socket
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import psutil

from bench import REPO
from bench.model.machine import Cpu, Host
from bench.plan.matrix import Variant
from bench.sut import locks


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def _output(cmd: list[str], cwd: Path | None = None) -> str | None:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def cpu() -> Cpu:
    """CPU model, logical/physical counts, scaling governor and turbo state where readable."""
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in (_read("/proc/cpuinfo") or "").splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or None,
    )
    no_turbo = _read("/sys/devices/system/cpu/intel_pstate/no_turbo")
    boost = _read("/sys/devices/system/cpu/cpufreq/boost")
    turbo = (
        ("off" if no_turbo == "1" else "on")
        if no_turbo
        else ({"1": "on", "0": "off"}.get(boost or ""))
    )
    flags = next(
        (
            sorted(set(line.split(":", 1)[1].split()))
            for line in (_read("/proc/cpuinfo") or "").splitlines()
            if line.startswith("flags")
        ),
        None,
    )
    return Cpu(
        model=model,
        flags=flags,
        logical=psutil.cpu_count(logical=True),
        physical=psutil.cpu_count(logical=False),
        governor=_read("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"),
        turbo=turbo,
    )


def host() -> Host:
    """Hostname, OS, kernel, Python, memory."""
    os_release = dict(
        line.split("=", 1) for line in (_read("/etc/os-release") or "").splitlines() if "=" in line
    )
    return Host(
        hostname=socket.gethostname(),
        os=os_release.get("PRETTY_NAME", platform.system()).strip('"'),
        kernel=platform.release(),
        python=sys.version.split()[0],
        libc=" ".join(platform.libc_ver()).strip() or None,
        memory_gib=round(psutil.virtual_memory().total / 2**30, 1),
    )


def git() -> dict[str, Any]:
    """Commit and dirty flag of the checkout (None outside git)."""
    commit = _output(["git", "rev-parse", "HEAD"], cwd=REPO)
    status = _output(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO)
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def short_sha() -> str:
    """The short commit for run folder names ("nogit" outside a checkout)."""
    return _output(["git", "rev-parse", "--short", "HEAD"], cwd=REPO) or "nogit"


def toolchain() -> dict[str, Any]:
    """rustc and cargo versions."""
    return {"rustc": _output(["rustc", "--version"]), "cargo": _output(["cargo", "--version"])}


def packages(variant: Variant) -> dict[str, str]:
    """Every distribution installed in the variant's venv, name -> version."""
    code = (
        "import importlib.metadata as m, json; "
        "print(json.dumps({d.metadata['Name']: d.version for d in m.distributions()}))"
    )
    out = _output([str(variant.venv / "bin" / "python"), "-c", code])
    return dict(sorted(json.loads(out).items(), key=lambda kv: kv[0].lower())) if out else {}


def variant_info(variant: Variant) -> dict[str, Any]:
    """What a variant is, the lock it is built from (and its hash), what its venv holds (for
    a Rust variant: its crate's direct dependencies as Cargo.lock resolved them)."""
    lock = locks.lock_file(variant)
    return {
        "summary": variant.summary,
        "packages": packages(variant) if variant.python else crates(variant.folder),
        "lock": Path(os.path.relpath(lock, REPO)).as_posix(),
        "lock_sha256": locks.digest(lock) if lock.exists() else None,
    }


def crates(crate: Path) -> dict[str, str]:
    """A crate's direct dependencies with the versions its Cargo.lock resolved."""
    manifest = tomllib.loads((crate / "Cargo.toml").read_text())
    lock = tomllib.loads((crate / "Cargo.lock").read_text())
    direct = set(manifest.get("dependencies", {}))
    return {p["name"]: p["version"] for p in lock.get("package", []) if p["name"] in direct}


def collect(variants: list[Variant]) -> dict[str, Any]:
    """Everything about this machine and checkout that a reader needs to trust the numbers."""
    return {
        "host": host(),
        "cpu": cpu(),
        "affinity": sorted(os.sched_getaffinity(0)),
        "tools": toolchain(),
        "git": git(),
        "variants": {v.name: variant_info(v) for v in variants},
    }
