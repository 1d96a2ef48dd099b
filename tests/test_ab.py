"""A/B in one run (`run --baseline REV`): the checks before anything is built, a real run
against a commit whose fastapi-async is slower, and the paired statistics by hand."""

import json
import math
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from scipy import stats as scipy_stats
from test_bench_run import bench, interrupt_when, one_line_usage_error
from test_cli import REPORTS, tree

from bench import REPO
from bench.analysis import ab
from bench.analysis.verdict import Direction, Kind
from bench.cli import main
from bench.errors import BenchError, UsageError
from bench.model import store
from bench.model.plan import Baseline
from bench.plan.matrix import MATRIX
from bench.render.ab import judged
from bench.render.markdown import TIMES
from bench.sut import baseline

STORED = Path(__file__).with_name("data") / "results-v2-ab.json"  # smoke, --baseline HEAD
IDENTITY = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@localhost",
            "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@localhost"}  # fmt: skip
SLOW = (  # 2 ms of blocking work per request in fastapi-async's endpoint: clearly slower
    "        return [dict(r) for r in await app.state.pool.fetch(SQL, page.limit)]",
    "        __import__('time').sleep(0.002)\n"
    "        return [dict(r) for r in await app.state.pool.fetch(SQL, page.limit)]",
)
ASYNC_APP = "python_server/bench_fastapi/fastapi_async.py"


def git(*args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> str:
    result = subprocess.run(
        ["git", *args], cwd=REPO, capture_output=True, text=True, input=stdin,
        env={**os.environ, **IDENTITY, **(env or {})}, check=True,
    )  # fmt: skip
    return result.stdout.strip()


def throwaway_commit(tmp_path: Path, changes: dict[str, str]) -> str:
    """A commit on top of HEAD with `changes` (path -> new text), made without touching the
    checkout, its index or any branch: git's plumbing and a private index."""
    env = {"GIT_INDEX_FILE": str(tmp_path / "index")}
    git("read-tree", "HEAD", env=env)
    for path, text in changes.items():
        blob = git("hash-object", "-w", "--stdin", stdin=text)
        git("update-index", "--cacheinfo", f"100644,{blob},{path}", env=env)
    tree_id = git("write-tree", env=env)
    return git("commit-tree", tree_id, "-p", "HEAD", "-m", "throwaway (tests/test_ab.py)")


@pytest.fixture
def worktree() -> Iterator[Path]:
    """The baseline's worktree, left without changes (a test may write into it)."""
    path = baseline.worktree()
    yield path
    if path.exists():
        git("-C", str(path), "checkout", "--quiet", "--", ".")


def head_text(path: str) -> str:
    return git("show", f"HEAD:{path}") + "\n"


@pytest.mark.slow
def test_a_bad_baseline_is_one_line_before_anything_is_built(
    tmp_path: Path, worktree: Path
) -> None:
    """An unknown revision, a matrix without a variant of the plan, a baseline worktree with
    changes of someone's own: one line, exit 2, nothing built, no run folder."""
    matrix = head_text(MATRIX.relative_to(REPO).as_posix())
    start = matrix.index("[variants.fastapi-tuned]")
    end = matrix.index("[variants.", start + 1)
    lacking = throwaway_commit(tmp_path, {"bench/plan/matrix.toml": matrix[:start] + matrix[end:]})
    head = git("rev-parse", "HEAD")
    baseline.checkout(Baseline(rev=head, commit=head))
    (worktree / "README.md").write_text("someone's own change\n")
    out, before = tmp_path / "run", tree(REPORTS)
    cases = {
        "no-such-revision-xyz": "is not a commit of this repository",
        head: "has uncommitted changes (M README.md ...)",
    }
    for rev, says in cases.items():
        proc = bench("run", "--baseline", rev, "--out", str(out))
        stdout, stderr = proc.communicate(timeout=60)
        assert proc.returncode == 2 and stdout == "", (stdout, stderr)  # nothing built
        (line,) = stderr.splitlines()
        assert line.startswith("bench: error: ") and says in line, line
    git("-C", str(worktree), "checkout", "--quiet", "--", ".")
    line = one_line_usage_error(bench("run", "--baseline", lacking, "--out", str(out)))
    assert "declares no variant fastapi-tuned" in line, line
    assert not out.exists() and tree(REPORTS) == before
    assert git("-C", str(worktree), "rev-parse", "HEAD") == head  # not moved to `lacking`


def test_a_folder_inside_this_checkout_is_never_taken_for_the_worktree(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A plain folder where the worktree goes: git run there would act on this checkout
    (move its HEAD): refused, and this checkout's HEAD and status stay as they were."""
    folder = REPO / ".nox" / f"not-a-worktree-{os.getpid()}"
    folder.mkdir(parents=True)
    monkeypatch.setattr(baseline, "worktree", lambda: folder)
    before = git("rev-parse", "HEAD"), git("status", "--porcelain")
    try:
        with pytest.raises(UsageError, match="is not a git worktree of its own"):
            baseline.check("HEAD~1")
        with pytest.raises(BenchError, match="is not a git worktree of its own"):
            baseline.checkout(Baseline(rev="HEAD~1", commit=git("rev-parse", "HEAD~1")))
    finally:
        folder.rmdir()
    assert (git("rev-parse", "HEAD"), git("status", "--porcelain")) == before


@pytest.mark.slow
def test_an_ab_run_flags_the_side_made_slower_and_leads_the_report_with_it(
    oha: Path, tmp_path: Path, worktree: Path
) -> None:
    """The baseline is a commit whose fastapi-async does 2 ms of blocking work per request:
    both sides are built and measured in the same rounds, and head ÷ baseline calls head
    significantly faster; in the open loop both sides are offered the baseline's rate."""
    text = head_text(ASYNC_APP)
    assert SLOW[0] in text, "the endpoint changed: update SLOW"
    slower = throwaway_commit(tmp_path, {ASYNC_APP: text.replace(*SLOW)})
    out = tmp_path / "run"
    args = ("--profile", "smoke", "--variants", "fastapi-async", "--repeats", "3", "--seed", "5")
    args += ("--open-loop", "0.5")
    proc = bench("run", *args, "--baseline", slower, "--out", str(out))
    stdout, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, stderr
    assert f"baseline: {slower} ({slower[:12]}) in " in stdout
    run = store.load(out / "results.json")
    assert run.plan.baseline == Baseline(rev=slower, commit=slower)
    assert [c.variant for c in run.cells] == ["fastapi-async", "fastapi-async@baseline"] * 2
    head, base, head_open, base_open = run.cells
    assert head_open.open_loop is not None and base_open.open_loop is not None
    assert head_open.open_loop.closed_cell == base_open.open_loop.closed_cell == base.id
    assert head_open.open_loop.offered_rps == base_open.open_loop.offered_rps  # one load
    assert head.server is not None and base.server is not None
    assert "fastapi-async@baseline" not in " ".join(head.server.command)
    assert "/fastapi-async@baseline/" in " ".join(base.server.command)
    assert {r.index for r in head.repeats} == {r.index for r in base.repeats} == {0, 1, 2}
    pair, _ = ab.pairs(run)
    assert pair.throughput.verdict.direction is Direction.FASTER, pair
    assert pair.throughput.ratio is not None and pair.throughput.ratio > 1.2
    report = (out / "report.md").read_text()
    sections = [line for line in report.splitlines() if line.startswith("## ")]
    assert sections[0] == "## Head ÷ baseline", sections
    assert "Throughput changed significantly in fastapi-async" in report


@pytest.mark.slow
def test_an_interrupted_ab_run_resumes_both_sides_against_its_baseline(
    oha: Path, tmp_path: Path, worktree: Path
) -> None:
    """Ctrl-C once the head's cell has a repeat; --resume measures what both sides lack, from
    the same baseline commit, and the report still leads with head ÷ baseline."""
    out = tmp_path / "run"
    args = ("--profile", "smoke", "--variants", "fastapi-async", "--duration", "1s")
    args += ("--warmup", "0", "--repeats", "2", "--open-loop", "none", "--seed", "5")
    proc = bench("run", *args, "--baseline", "HEAD", "--out", str(out))
    path = out / "results.json"
    interrupt_when(proc, path, lambda cells: bool(cells and cells[0]["repeats"]))
    interrupted = store.load(path)
    assert sum(len(c.repeats) for c in interrupted.cells) < 4
    proc = bench("run", "--resume", str(out))
    stdout, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, stderr
    commit = git("rev-parse", "HEAD")
    assert f"baseline: HEAD ({commit[:12]}) in {worktree}" in stdout
    run = store.load(path)
    assert run.plan.baseline == Baseline(rev="HEAD", commit=commit) == interrupted.plan.baseline
    assert [c.variant for c in run.cells] == ["fastapi-async", "fastapi-async@baseline"]
    for cell in run.cells:
        assert cell.ok and [r.index for r in cell.repeats] == [0, 1], cell.error
    report = (out / "report.md").read_text()
    assert next(line for line in report.splitlines() if line.startswith("## ")) == (
        "## Head ÷ baseline"
    )


T_975 = {2: 4.302652729911275, 3: 3.182446305284263, 4: 2.7764451051977987}  # tables' values


def test_paired_statistics_match_hand_computed_values_on_a_stored_run() -> None:
    """A stored A/B run (two variants, three rounds): each cell's ratio, interval, p and
    Holm-adjusted p computed here by hand from the repeats."""
    run = store.load(STORED)
    pairs = ab.pairs(run)
    assert [p.variant for p in pairs] == ["fastapi-async", "fastapi-tuned"]
    by_name = {c.variant: c for c in run.cells}
    raw = []
    for pair in pairs:
        head = {r.index: r.load.rps for r in by_name[pair.variant].repeats}
        base = {r.index: r.load.rps for r in by_name[pair.variant + "@baseline"].repeats}
        logs = [math.log(head[i] / base[i]) for i in sorted(head)]
        n = len(logs)
        mean = sum(logs) / n
        sd = math.sqrt(sum((x - mean) ** 2 for x in logs) / (n - 1))
        half = T_975[n - 1] * sd / math.sqrt(n)
        t = mean / (sd / math.sqrt(n))
        p = 2 * scipy_stats.t.sf(abs(t), n - 1)
        raw.append(p)
        got = pair.throughput
        assert got.ratio == pytest.approx(math.exp(mean), rel=1e-12)
        assert got.low == pytest.approx(math.exp(mean - half), rel=1e-9)
        assert got.high == pytest.approx(math.exp(mean + half), rel=1e-9)
        assert got.p_value == pytest.approx(p, rel=1e-9)
    low, high = sorted(raw)
    holm = {low: min(1, 2 * low), high: max(min(1, 2 * low), high)}
    for pair, p in zip(pairs, raw, strict=True):
        verdict = pair.throughput.verdict
        assert verdict.p == pytest.approx(holm[p], rel=1e-9)
        assert verdict.kind is (Kind.NOT_SIGNIFICANT if holm[p] >= 0.05 else Kind.SIGNIFICANT)
        words = "no significant change" if holm[p] >= 0.05 else "significant: "
        assert judged(pair.throughput).startswith(words), judged(pair.throughput)
        assert judged(pair.throughput).endswith(f" (p={verdict.p:.2g})")
    assert json.loads(STORED.read_text())["plan"]["baseline"]["rev"] == "HEAD"


def test_compare_of_one_ab_run_is_its_head_against_baseline(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["compare", str(STORED), "--fail-on-regression", "1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("## Head ÷ baseline") and "fastapi-tuned" in out
    assert main(["compare", str(STORED.with_name("results-v2.json"))]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert "not an A/B run (it ran without --baseline); give two runs" in line


def test_holm_adjusts_step_down() -> None:
    adjusted = ab.holm([0.01, 0.04, None, 0.03])
    assert adjusted[2] is None
    assert [adjusted[i] for i in (0, 1, 3)] == pytest.approx([0.03, 0.06, 0.06])


def test_a_head_that_fell_fails_the_gate_of_compare(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The stored run with fastapi-tuned's head at 80% of its throughput in every round: a
    significant fall of 20%, so `--fail-on-regression 10` exits 1 naming it, and 25 does not."""
    run = store.load(STORED)
    cells = {c.variant: c for c in run.cells}
    baseline_rps = {r.index: r.load.rps for r in cells["fastapi-tuned@baseline"].repeats}
    for repeat in cells["fastapi-tuned"].repeats:
        repeat.load.rps = 0.8 * baseline_rps[repeat.index]
    store.save(run, tmp_path / "results.json")
    (fell,) = ab.regressions(ab.pairs(run), 10)
    assert fell.variant == "fastapi-tuned" and fell.throughput.verdict.direction is Direction.SLOWER
    assert main(["compare", str(tmp_path), "--fail-on-regression", "10"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("regression: fastapi-tuned c=10"), err
    assert f"head ÷ baseline {TIMES}0.800 (significant: slower" in err[0]
    assert main(["compare", str(tmp_path), "--fail-on-regression", "25"]) == 0
