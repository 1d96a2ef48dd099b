"""matrix.toml: the variants, the default axis values and the profiles, as declared."""

import tomllib
from collections.abc import Collection
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from bench.errors import UsageError
from bench.paths import variants_dir

MATRIX = Path(__file__).with_name("matrix.toml")


@dataclass(frozen=True)
class Variant:
    """One server variant as declared in matrix.toml."""

    name: str
    kind: str  # "python" or "rust"
    command: str  # console script / binary in the variant's venv
    summary: str
    rps_hint: float  # for estimating request-count runs only
    extra: str = ""  # pip extra of python_server for Python variants
    app: str = ""  # the ASGI app factory of a Python variant, module:function
    runtimes: tuple[str, ...] = ()  # how a Python app can be served, its own first

    @property
    def runtime(self) -> str | None:
        """The runtime the variant declares as its own (None for Rust)."""
        return self.runtimes[0] if self.runtimes else None

    @property
    def extras(self) -> tuple[str, ...]:
        """The python_server extras its venv needs: its own and its runtimes'."""
        needed = (e for r in self.runtimes for e in runtime(r)["extras"])
        return tuple(dict.fromkeys([self.extra, *needed]))

    @property
    def python(self) -> bool:
        """Whether this is a Python app (served by a runtime, with workers)."""
        return self.kind == "python"

    @property
    def venv(self) -> Path:
        """This variant's own virtualenv."""
        return variants_dir() / self.name

    @property
    def executable(self) -> Path:
        """The server's entry point inside its venv."""
        return self.venv / "bin" / self.command


@cache
def table() -> dict[str, Any]:
    """matrix.toml, parsed."""
    return tomllib.loads(MATRIX.read_text())


def load_variants() -> dict[str, Variant]:
    """All variants declared in the matrix file, by name, in file order."""
    variants = table()["variants"].items()
    return {
        name: Variant(name=name, **{**spec, "runtimes": tuple(spec.get("runtimes", ()))})
        for name, spec in variants
    }


def runtime(name: str | None) -> dict[str, Any]:
    """A runtime as declared (server, loop, http, extras); for None, the Rust server's."""
    if name is None:
        return {"server": "axum (hyper)", "runtime": "tokio multi-thread", "extras": []}
    return dict(table()["runtimes"][name])


def select(names: str | Collection[str] | None) -> list[Variant]:
    """The variants named (comma-separated or a list), or all; unknown names are a UsageError."""
    known = load_variants()
    if names is None:
        return list(known.values())
    wanted = [n.strip() for n in names.split(",")] if isinstance(names, str) else list(names)
    unknown = [n for n in wanted if n not in known]
    if unknown or not wanted or "" in wanted:
        raise UsageError(
            f"unknown variant {', '.join(map(repr, unknown)) or '(none given)'}; "
            f"known variants: {', '.join(known)}"
        )
    if len(set(wanted)) != len(wanted):
        raise UsageError(f"--variants {','.join(wanted)} names a variant twice; name each once")
    return [known[n] for n in wanted]
