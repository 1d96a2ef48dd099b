"""matrix.toml: the variants, the default axis values and the profiles, as declared."""

import os
import tomllib
from collections.abc import Collection
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from bench import REPO
from bench.errors import UsageError
from bench.paths import variants_dir

MATRIX = Path(__file__).with_name("matrix.toml")
MATRIX_ENV = "BENCH_MATRIX"  # another matrix file (tests, experiments): python -m bench --matrix


def matrix_file() -> Path:
    """The matrix file in use: $BENCH_MATRIX, or the repository's."""
    return Path(os.environ.get(MATRIX_ENV) or MATRIX)


@dataclass(frozen=True)
class Variant:
    """One server variant as declared in matrix.toml: a folder and how to serve what it holds."""

    name: str
    kind: str  # "python" or "rust"
    path: str  # its folder, relative to the repository root (or absolute)
    summary: str
    rps_hint: float  # for estimating request-count runs only
    app: str = ""  # Python: the ASGI app factory, module:function
    app_extras: tuple[str, ...] = ()  # Python: the extras of its project the app needs
    runtimes: tuple[str, ...] = ()  # Python: the servers it may run under, its own first
    env: tuple[tuple[str, str], ...] = ()  # extra environment for the app
    driver: str = ""  # the database driver /health must report ("" : not checked)
    overflow: bool = False  # whether its pool has an overflow (the overflow axis applies)
    opt_in: bool = False  # runs only where a profile or --variants names it
    binary: str = ""  # Rust: the executable the crate builds

    @property
    def own_name(self) -> str:
        """Its name in its own matrix: "axum" for both axum and axum@baseline."""
        return head(self.name)

    @property
    def runtime(self) -> str | None:
        """The runtime the variant declares as its own (None for Rust)."""
        return self.runtimes[0] if self.runtimes else None

    @property
    def python(self) -> bool:
        """Whether this is a Python app (served by a runtime, with workers)."""
        return self.kind == "python"

    @property
    def folder(self) -> Path:
        """The variant's source folder."""
        return REPO / self.path

    @property
    def requires(self) -> tuple[str, ...]:
        """What its runtimes add to the venv (requirement strings)."""
        return tuple(dict.fromkeys(r for name in self.runtimes for r in runtime(name)["requires"]))

    @property
    def venv(self) -> Path:
        """This variant's own virtualenv."""
        return variants_dir() / self.name

    @property
    def executable(self) -> Path:
        """What starts it: the venv's python (which runs the runtime) or the Rust binary."""
        return self.venv / "bin" / (self.binary if not self.python else "python")


SIDE = "@baseline"  # suffix of an A/B run's other side: axum@baseline is axum at the baseline


def head(variant: str) -> str:
    """The variant a side of an A/B comparison stands for: "axum@baseline" -> "axum"."""
    return variant.removesuffix(SIDE)


def is_baseline(variant: str) -> bool:
    """Whether `variant` names the baseline side of an A/B run ("axum@baseline")."""
    return variant.endswith(SIDE)


KINDS = {"python": ("app", "runtimes"), "rust": ("binary",)}  # what each kind must declare


def table() -> dict[str, Any]:
    """The matrix file, parsed (once per file)."""
    return _parse(matrix_file())


@cache
def _parse(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"cannot read the matrix file {path}: {exc}") from None


def load_variants() -> dict[str, Variant]:
    """All variants declared in the matrix file, by name, in file order."""
    return {name: variant(name, spec) for name, spec in table()["variants"].items()}


def variant(name: str, spec: dict[str, Any], where: str = "") -> Variant:
    """A [variants.NAME] entry (of the matrix file in use, or of the one `where` names),
    checked: a mistake in it is a UsageError naming the entry."""
    spec = dict(spec)
    where = f"[variants.{name}] in {where or matrix_file()}"
    if "@" in name and not is_baseline(name):
        raise UsageError(f"{where}: a variant's name may not hold '@' (NAME{SIDE} is reserved)")
    needed = KINDS.get(spec.get("kind", ""))
    if needed is None:
        raise UsageError(f"{where}: kind must be one of {', '.join(KINDS)}")
    if missing := [k for k in ("path", "summary", "rps_hint", *needed) if k not in spec]:
        raise UsageError(f"{where} lacks {', '.join(missing)}; see the README, Adding a variant")
    if unknown := [r for r in spec.get("runtimes", ()) if r not in table()["runtimes"]]:
        raise UsageError(
            f"{where}: unknown runtime {unknown[0]!r}; use {', '.join(table()['runtimes'])}"
        )
    spec["app_extras"] = tuple(spec.pop("extras", ()))
    spec["runtimes"] = tuple(spec.get("runtimes", ()))
    spec["env"] = tuple(sorted(spec.get("env", {}).items()))
    try:
        return Variant(name=name, **spec)
    except TypeError as exc:
        raise UsageError(f"{where}: {exc}".replace("Variant.__init__() ", "")) from None


def reference() -> str | None:
    """The variant the report compares the others with (matrix.toml's `reference`), checked to
    be one of the file's variants; None where the file declares none."""
    name = table().get("reference")
    if name is not None and name not in table()["variants"]:
        raise UsageError(
            f"reference = {name!r} in {matrix_file()} is not a variant of that file; "
            f"name one of {', '.join(table()['variants'])}"
        )
    return name if isinstance(name, str) else None


def runtime(name: str | None) -> dict[str, Any]:
    """A runtime as declared (server, loop, http, requires); for None, the Rust server's."""
    if name is None:
        return {"server": "axum (hyper)", "runtime": "tokio multi-thread", "requires": []}
    return dict(table()["runtimes"][name])


def select(names: str | Collection[str] | None) -> list[Variant]:
    """The variants named (comma-separated or a list), or all; unknown names are a UsageError."""
    known = load_variants()
    if names is None:
        return [v for v in known.values() if not v.opt_in]
    wanted = [n.strip() for n in names.split(",")] if isinstance(names, str) else list(names)
    if "" in wanted:
        given = names if isinstance(names, str) else ",".join(names)
        raise UsageError(
            f"--variants {given!r} has an empty item; write e.g. --variants axum,fastapi-tuned"
        )
    unknown = [n for n in wanted if n not in known]
    if unknown or not wanted:
        raise UsageError(
            f"unknown variant {', '.join(map(repr, unknown)) or '(none given)'}; "
            f"known variants: {', '.join(known)}"
        )
    if len(set(wanted)) != len(wanted):
        raise UsageError(f"--variants {','.join(wanted)} names a variant twice; name each once")
    return [known[n] for n in wanted]
