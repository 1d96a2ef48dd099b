"""A/B in one run (`run --baseline REV`): the checks before anything is built, a real run
against a commit whose fastapi-async is slower, and the paired statistics by hand."""

import json
import math
import os
import random
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from scipy import stats as scipy_stats
from test_bench_run import bench, interrupt_when, one_line_usage_error
from test_cli import REPORTS, tree

from bench import REPO
from bench.analysis import ab
from bench.analysis.verdict import THROUGHPUT, Direction, Kind
from bench.cli import main
from bench.errors import BenchError, UsageError
from bench.model import store
from bench.model.plan import Baseline
from bench.plan.matrix import MATRIX
from bench.render.ab import detectable, judged, section
from bench.render.markdown import TIMES
from bench.render.page import Page
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


T_9875 = {2: 6.205346816570706}  # t(1 - 0.05/2/2, df 2): 95% over two cells, tables' value


def test_paired_statistics_match_hand_computed_values_on_a_stored_run() -> None:
    """A stored A/B run (two variants, three rounds): each cell's ratio, its interval at
    1 - 0.05/2, p, Bonferroni's p (2 p) and the smallest detectable ratio, by hand."""
    run = store.load(STORED)
    pairs = ab.pairs(run)
    assert [p.variant for p in pairs] == ["fastapi-async", "fastapi-tuned"]
    by_name = {c.variant: c for c in run.cells}
    for pair in pairs:
        head = {r.index: r.load.rps for r in by_name[pair.variant].repeats}
        base = {r.index: r.load.rps for r in by_name[pair.variant + "@baseline"].repeats}
        logs = [math.log(head[i] / base[i]) for i in sorted(head)]
        n = len(logs)
        mean = sum(logs) / n
        sd = math.sqrt(sum((x - mean) ** 2 for x in logs) / (n - 1))
        half = T_9875[n - 1] * sd / math.sqrt(n)
        t = mean / (sd / math.sqrt(n))
        p = 2 * scipy_stats.t.sf(abs(t), n - 1)
        got = pair.throughput
        assert got.tests == 2
        assert got.ratio == pytest.approx(math.exp(mean), rel=1e-12)
        assert got.low == pytest.approx(math.exp(mean - half), rel=1e-9)
        assert got.high == pytest.approx(math.exp(mean + half), rel=1e-9)
        assert got.p_value == pytest.approx(p, rel=1e-9)
        assert got.verdict.p == pytest.approx(min(1, 2 * p), rel=1e-9)
        significant = 2 * p < 0.05
        assert got.verdict.kind is (Kind.SIGNIFICANT if significant else Kind.NOT_SIGNIFICANT)
        words = "significant: " if significant else "no significant change"
        assert judged(got).startswith(words), judged(got)
        assert judged(got).endswith(f" (p={got.verdict.p:.2g})")
        # the smallest detectable ratio: a noncentral t at log(ratio) / (sd / sqrt(n)) rejects
        # at t(0.9875) in 80% of runs
        assert got.detectable is not None
        nc = math.log(got.detectable) / (sd / math.sqrt(n))
        c = T_9875[n - 1]
        lower = scipy_stats.nct.cdf(-c, n - 1, nc)  # nan once far below 1e-20
        reject = scipy_stats.nct.sf(c, n - 1, nc) + (0.0 if math.isnan(lower) else lower)
        assert reject == pytest.approx(0.8, abs=1e-6)
    assert json.loads(STORED.read_text())["plan"]["baseline"]["rev"] == "HEAD"


def test_the_stored_run_renders_with_each_cells_smallest_detectable_change() -> None:
    text = section(Page(store.load(STORED)))
    header = next(line for line in text.splitlines() if line.startswith("| variant"))
    assert header.count("| smallest detectable change (80% power) |") == 2, header
    assert header.count("| simultaneous 95% interval |") == 2, header
    for pair in ab.pairs(store.load(STORED)):
        row = next(line for line in text.splitlines() if line.startswith(f"| {pair.variant} |"))
        assert detectable(pair.throughput) in row and detectable(pair.p99) in row
    assert "**No significant change in throughput** in any of the 2 cells: nothing larger " in text


def _judged(logs: list[float], tests: int) -> ab.Paired:
    head = [100.0 * math.exp(x) for x in logs]
    return ab.judged(ab.paired(head, [100.0] * len(logs), tests), THROUGHPUT)


def test_the_issues_case_an_interval_and_its_verdict_agree() -> None:
    """Issue 25: fastapi-async x0.723 over 3 rounds (log-ratio spread 0.092), one of 5 cells:
    raw p = 0.026, adjusted 0.13, "no significant change", and its interval now holds x1 (it
    read [x0.575, x0.908] at 95% for one cell). Alone (one cell), the same rounds are
    significant and the interval excludes x1."""
    mean, sd = math.log(0.723), 0.092
    logs = [mean - sd, mean, mean + sd]  # sample standard deviation exactly 0.092
    one, five = _judged(logs, 1), _judged(logs, 5)
    assert one.low is not None and one.high is not None and five.low is not None
    assert (one.low, one.high) == pytest.approx((0.575, 0.908), abs=2e-3)
    assert one.verdict.significant and one.high < 1
    assert five.verdict.kind is Kind.NOT_SIGNIFICANT and five.verdict.p == pytest.approx(0.13, 0.02)
    assert five.high is not None and five.low < 1 < five.high
    assert five.detectable is not None and 1 / five.detectable < 0.723  # too few rounds to see it
    eight = _judged([mean - sd, mean + sd] * 4, 5)
    assert eight.verdict.direction is Direction.SLOWER and eight.high is not None
    assert eight.high < 1


def test_an_interval_excludes_one_exactly_when_its_adjusted_verdict_is_significant() -> None:
    """2000 synthetic cells (2 to 12 rounds, families of 1 to 8, changes from none to large):
    the interval at 1 - 0.05/m and Bonferroni's verdict never disagree, and both sides occur."""
    rng = random.Random(25)
    seen = set()
    for _ in range(2000):
        rounds, tests = rng.randint(2, 12), rng.randint(1, 8)
        shift, sd = rng.uniform(-0.4, 0.4), rng.uniform(0.01, 0.3)
        got = _judged([rng.gauss(shift, sd) for _ in range(rounds)], tests)
        assert got.low is not None and got.high is not None
        excludes = got.high < 1 or got.low > 1
        assert excludes is got.verdict.significant, (got, rounds, tests)
        seen.add(excludes)
    assert seen == {True, False}


def test_compare_of_one_ab_run_is_its_head_against_baseline(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["compare", str(STORED), "--fail-on-regression", "1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("## Head ÷ baseline") and "fastapi-tuned" in out
    assert main(["compare", str(STORED.with_name("results-v2.json"))]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert "not an A/B run (it ran without --baseline); give two runs" in line


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
