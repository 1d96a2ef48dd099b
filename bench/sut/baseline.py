"""The other side of an A/B run (`run --baseline REV`): REV checked out in a git worktree,
its variants built into their own venvs, measured in the same rounds as this checkout's.

A baseline variant is the variant as REV's matrix.toml declares it, named NAME@baseline, its
folder in the worktree. Everything about REV is checked before anything is built or written:
that it names a commit, that its matrix declares every variant of the plan, and that the
worktree an earlier run left holds no changes of someone's own (it is moved to REV then).
"""

import subprocess
import tomllib
from pathlib import Path

from bench import REPO
from bench.errors import BenchError, UsageError
from bench.model.plan import Baseline, Plan
from bench.paths import variants_dir
from bench.plan import matrix
from bench.plan.matrix import SIDE, Variant


def _git(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)


def check(rev: str) -> Baseline:
    """REV resolved to its commit; a revision git does not know, or a dirty or foreign worktree
    where this one's should be, is a UsageError."""
    found = _git("rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}")
    if found.returncode != 0 or rev.startswith("-"):
        raise UsageError(
            f"--baseline {rev!r} is not a commit of this repository; give a revision git knows, "
            "e.g. main, HEAD~1 or a commit hash"
        )
    side = Baseline(rev=rev, commit=found.stdout.strip())
    path = worktree()
    if path.exists():
        own = _own(path)  # git status elsewhere would read this checkout's
        changes = _git("status", "--porcelain", cwd=path).stdout.strip() if own else ""
        if not own or changes:
            what = (
                f"has uncommitted changes ({changes.splitlines()[0].strip()} ...)"
                if own
                else "is not a git worktree of its own"
            )
            raise UsageError(
                f"the baseline's worktree {path} {what}; remove it "
                f"(git worktree remove --force {path}, or rm -r) and run again"
            )
    return side


def _own(path: Path) -> bool:
    """Whether `path` is the top of a checkout (a worktree), not a folder inside this one,
    where git would act on this checkout."""
    top = _git("rev-parse", "--show-toplevel", cwd=path)
    return top.returncode == 0 and Path(top.stdout.strip()).resolve() == path.resolve()


def worktree() -> Path:
    """Where the baseline is checked out: one worktree, moved to each run's baseline commit
    (so that cargo and uv rebuild only what changed), kept for the next run."""
    return variants_dir().parent / "baseline-worktree"


def variants(side: Baseline, names: list[str]) -> list[Variant]:
    """The baseline's variants `names` (NAME@baseline), as its own matrix.toml declares them;
    a variant it lacks, or a matrix this harness cannot read, is a UsageError."""
    try:
        path = matrix.matrix_file().absolute().relative_to(REPO).as_posix()
    except ValueError:  # a matrix outside the repository (an experiment's): the repository's
        path = matrix.MATRIX.relative_to(REPO).as_posix()
    where = f"{path} at {side.rev} ({side.commit[:12]})"
    shown = _git("show", f"{side.commit}:{path}")
    try:
        declared = tomllib.loads(shown.stdout)["variants"] if shown.returncode == 0 else None
    except (tomllib.TOMLDecodeError, KeyError):
        declared = None
    if declared is None:
        raise UsageError(f"--baseline {side.rev}: cannot read the variants of {where}")
    if missing := [n for n in names if n not in declared]:
        raise UsageError(
            f"--baseline {side.rev}: {where} declares no variant {', '.join(missing)}; "
            "leave it out with --variants, or pick a later revision"
        )
    root = worktree()
    return [
        matrix.variant(
            name + SIDE, {**declared[name], "path": str(root / declared[name]["path"])}, where
        )
        for name in names
    ]


def paired(chosen: list[Variant], side: Baseline) -> list[Variant]:
    """Each chosen variant followed by its baseline: the order the plan's cells take."""
    others = variants(side, [v.name for v in chosen])
    return [v for pair in zip(chosen, others, strict=True) for v in pair]


def of(plan: Plan) -> dict[str, Variant]:
    """The baseline variants a plan's cells name (none without --baseline), by name."""
    if plan.baseline is None:
        return {}
    names = [matrix.head(c.variant) for c in plan.cells if matrix.is_baseline(c.variant)]
    return {v.name: v for v in variants(plan.baseline, list(dict.fromkeys(names)))}


def checkout(side: Baseline) -> Path:
    """Check the baseline out in its worktree (created, or moved to the commit: `check` found
    it clean); return its path."""
    path = worktree()
    if path.exists() and not _own(path):  # never a git command on this checkout by mistake
        raise BenchError(f"{path} is not a git worktree of its own: remove it and run again")
    if path.exists():
        done = _git("checkout", "--quiet", "--detach", side.commit, cwd=path)
    else:
        _git("worktree", "prune")
        done = _git("worktree", "add", "--quiet", "--detach", str(path), side.commit)
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-1:]
        raise BenchError(f"cannot check out {side.commit[:12]} in {path}: {' '.join(tail)}")
    return path
