"""Thin nox sessions: each installs the harness and calls `python -m bench ...`."""

import tomllib
from pathlib import Path

import nox

nox.needs_version = ">=2024.3.2"
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["tests"]
HARNESS_LOCK = "locks/harness.txt"  # regenerate with `nox -s lock`


def _install(session: nox.Session) -> None:
    """The harness's locked dependencies (hashes required), then the harness itself."""
    session.install("--require-hashes", "-r", HARNESS_LOCK)
    session.install("--no-deps", "-e", ".")


def _bench(session: nox.Session, command: str, *args: str) -> None:
    """Install the harness into this session's venv and run one `python -m bench` command.

    On Ctrl-C the harness stops its servers and Postgres and writes the report: give it time
    before nox escalates to SIGTERM/SIGKILL.
    """
    _install(session)
    session.run(
        "python",
        "-m",
        "bench",
        command,
        *args,
        *session.posargs,
        interrupt_timeout=60,
        terminate_timeout=10,
    )


@nox.session
def build(session: nox.Session) -> None:
    """Build every server variant's isolated virtualenv (Rust through cargo + maturin)."""
    _bench(session, "build")


@nox.session
def verify(session: nox.Session) -> None:
    """Start each variant against a seeded Postgres and check its answers."""
    _bench(session, "verify")


@nox.session
def bench(session: nox.Session) -> None:
    """The benchmark: the plan's cells, pinned and measured, then report.md (options after --).

    Shard a plan over CI jobs with `-- --list-shards N` and `-- --shard I/N`; merge the shards'
    run folders with `nox -s report -- RUN_DIR...`.
    """
    _bench(session, "run")


@nox.session(default=False)
def report(session: nox.Session) -> None:
    """Re-render a run's report.md, or merge shards: nox -s report -- RUN_DIR [...]."""
    _bench(session, "report")


@nox.session(default=False)
def compare(session: nox.Session) -> None:
    """Compare two runs cell by cell, as Markdown for a pull request:
    nox -s compare -- RUN_A RUN_B [--fail-on-regression PCT] [--out FILE]
    (a RUN is a run folder, its results.json, latest, or a name in reports/published/)."""
    _bench(session, "compare")


@nox.session(default=False)
def flamegraph(session: nox.Session) -> None:
    """Profile one variant under a cell's load and pinning (py-spy; perf for Axum):
    nox -s flamegraph -- VARIANT [--concurrency N] [--duration 10s] [other load options]."""
    if not session.posargs:
        session.error("Usage: nox -s flamegraph -- VARIANT [load options, as for bench]")
    _bench(session, "flamegraph")


@nox.session(default=False)
def serve(session: nox.Session) -> None:
    """Serve one variant until Ctrl-C: nox -s serve -- VARIANT [--port P]."""
    if not session.posargs:
        session.error("Usage: nox -s serve -- VARIANT [--port P]")
    _bench(session, "serve")


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite against real Postgres, servers and oha; the fast loop, which starts
    none of them: nox -s tests -- -m "not slow"."""
    _install(session)
    session.run("pytest", *session.posargs)


@nox.session(default=False)
def lock(session: nox.Session) -> None:
    """Regenerate the uv locks of the harness and every variant (-- --upgrade to move on)."""
    session.install("-e", ".")  # unlocked: the locks may be what is out of date
    session.run("python", "-m", "bench", "lock", *session.posargs)


def _variants(kind: str) -> dict[str, dict[str, object]]:
    """The variants of bench/plan/matrix.toml of one kind, by name."""
    declared = tomllib.loads(Path("bench/plan/matrix.toml").read_text())["variants"]
    return {name: spec for name, spec in declared.items() if spec["kind"] == kind}


@nox.session
def lint(session: nox.Session) -> None:
    """ruff, mypy and import-linter over the harness and every Python variant found (mypy
    with each variant's own locked venv), actionlint (with shellcheck) over the workflows,
    cargo fmt --check and clippy -D warnings over every Rust variant found."""
    _install(session)
    python = _variants("python")
    folders = sorted({str(spec["path"]) for spec in python.values()})
    session.run("ruff", "check", "bench", "tests", "noxfile.py", *folders)
    session.run("ruff", "format", "--check", "bench", "tests", "noxfile.py", *folders)
    session.run("mypy", "bench")
    session.run("lint-imports")
    workflows = sorted(str(p) for p in Path(".github/workflows").glob("*.y*ml"))
    session.run("actionlint", *workflows)  # shellcheck checks their run: scripts
    session.run("python", "-m", "bench", "build", "--variants", ",".join(python))
    for name, spec in python.items():  # the app's module, against the packages it runs with
        module = str(spec["app"]).split(":")[0].replace(".", "/")
        source = next(Path(str(spec["path"])).glob(f"{module}*"))
        interpreter = f"--python-executable=.nox/variants/{name}/bin/python"
        session.run("mypy", interpreter, "--no-incremental", str(source))
    for spec in _variants("rust").values():
        manifest = f"--manifest-path={spec['path']}/Cargo.toml"
        session.run("cargo", "fmt", manifest, "--check", external=True)
        session.run("cargo", "clippy", manifest, "--release", "--", "-D", "warnings", external=True)
