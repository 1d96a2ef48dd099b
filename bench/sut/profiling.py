"""The profiling build of a Rust variant: its release build plus debug info and frame
pointers, so that perf's stacks name every frame.

The crate's `[profile.profiling]` (Cargo.toml) inherits `release` and adds `debug = true`;
frame pointers come from RUSTFLAGS. cargo builds it straight (maturin strips the binaries of
its wheels) into the cargo target dir the release wheel uses, and the binary is copied into
a folder of its own beside the variants' venvs. A Python variant is profiled as built.
"""

import os
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

from bench.errors import BenchError
from bench.paths import cargo_target
from bench.plan.matrix import Variant

PROFILE = "profiling"
SUFFIX = "-profiling"  # axum -> .nox/variants/axum-profiling/bin/bench-axum
RUSTFLAGS = "-C force-frame-pointers=yes"


def variant(chosen: Variant) -> Variant:
    """What to start to profile `chosen`: itself (Python), or its profiling build (Rust)."""
    return chosen if chosen.python else replace(chosen, name=chosen.name + SUFFIX)


def build(chosen: Variant) -> Variant:
    """Build `chosen`'s profiling binary (cargo, with its Cargo.lock) and return the variant
    that runs it; a Python variant is returned as it is."""
    profiled = variant(chosen)
    if chosen.python:
        return profiled
    target = cargo_target(chosen.folder)
    env = {**os.environ, "CARGO_TARGET_DIR": str(target), "RUSTFLAGS": RUSTFLAGS}
    manifest = str(chosen.folder / "Cargo.toml")
    cmd = ["cargo", "build", "--quiet", "--locked", "--profile", PROFILE]
    try:
        result = subprocess.run(
            [*cmd, "--manifest-path", manifest], env=env, capture_output=True, text=True
        )
    except FileNotFoundError:
        raise BenchError("cargo is not on PATH: install a Rust toolchain (rustup.rs)") from None
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()[-5:]
        raise BenchError(
            f"cargo build --profile {PROFILE} of {chosen.path} failed:\n" + "\n".join(tail)
        )
    built = target / PROFILE / chosen.binary
    profiled.executable.parent.mkdir(parents=True, exist_ok=True)
    tmp = profiled.executable.with_suffix(".tmp")
    shutil.copy2(built, tmp)
    os.replace(tmp, profiled.executable)  # a copy over a binary that runs would be refused
    return profiled


def missing(chosen: Variant) -> Path | None:
    """The profiling binary `chosen` needs and lacks (None when built or not needed)."""
    executable = variant(chosen).executable
    return None if chosen.python or executable.exists() else executable
