"""Tools the harness builds from crates.io once (oha, inferno): `cargo install` into its cache."""

import subprocess
from pathlib import Path

from bench.errors import BenchError


def install(crate: str, version: str, root: Path, *options: str, needs: str = "") -> None:
    """`cargo install CRATE --locked --version VERSION [OPTIONS] --root ROOT`; a BenchError
    with cargo's last lines if it fails (`needs`: what the build needs, said then)."""
    cmd = ["cargo", "install", crate, "--locked", "--version", version, *options]
    try:
        result = subprocess.run([*cmd, "--root", str(root)], capture_output=True, text=True)
    except FileNotFoundError:
        raise BenchError(
            f"{crate} is missing and cargo is not on PATH: install a Rust toolchain "
            f"(rustup.rs) or put {crate} on PATH"
        ) from None
    if result.returncode != 0:
        tail = " | ".join(result.stderr.strip().splitlines()[-3:])
        raise BenchError(f"cargo install {crate} {version} failed{needs}: {tail}")
