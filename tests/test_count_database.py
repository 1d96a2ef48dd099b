"""The database's count (`run --count --count-database`): a stored real A/B rendered with its
database column, the refusals, and a real Postgres under valgrind counted beside a real Axum."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import psutil
import pytest

from bench import REPO
from bench.analysis import counts
from bench.model import store
from bench.model.counts import Counted
from bench.model.store import load
from bench.render import counts as render
from bench.render.markdown import TIMES
from bench.render.page import Page

ENV = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
# `python -m bench run --count --count-database --baseline HEAD`, 2026-12-05 (functions trimmed
# to each life's 10 costliest): docs/measurements.md
STORED = Path(__file__).parent / "data" / "results-v5-count-database.json"


def geomean(values: list[float]) -> float:
    return math.exp(sum(math.log(v) for v in values) / len(values))


def database_lives(cell: Counted) -> list[float]:
    return [life.database.instructions / life.requests for life in cell.lives if life.database]


def test_a_stored_ab_with_its_database_validates_and_shows_both_counts() -> None:
    raw = json.loads(STORED.read_text())
    jsonschema.validate(raw, json.loads(store.SCHEMA_FILE.read_text()))
    run = load(STORED)
    assert store.dump(store.parse(json.loads(store.dump(run)), "again")) == store.dump(run)
    by_name = {c.variant: c for c in run.counts}
    head, base = by_name["fastapi-async"], by_name["fastapi-async@baseline"]
    assert all(life.database and life.database.backends == 5 for life in head.lives)
    ratio = geomean(database_lives(head)) / geomean(database_lives(base))
    section = render.section(Page(run))
    header = next(line for line in section.splitlines() if line.startswith("| variant"))
    assert header.index("server instructions per request (head)") < header.index(
        "database instructions per request (head)"
    )
    row = next(line for line in section.splitlines() if line.startswith("| fastapi-async |"))
    assert f"{geomean(database_lives(head)):,.0f}" in row and f"{TIMES}{ratio:.4f}" in row
    assert "It has no verdict" in section


def test_the_pairs_carry_the_database_beside_the_server_without_judging_it() -> None:
    run = load(STORED)
    found = {p.variant: p for p in counts.pairs(run)}
    tuned = found["fastapi-tuned"]
    # one baseline life's backend re-planned nothing (generic plan): 4.9% fewer, no verdict
    assert tuned.database_ratio is not None and tuned.database_ratio > 1.04
    assert tuned.direction == "same"
    assert found["fastapi-sync"].database_ratio == pytest.approx(1, abs=0.002)


def test_counts_with_and_without_the_database_under_valgrind_are_not_compared() -> None:
    with_db = load(STORED)
    without = load(STORED)
    without.run_id = "without"
    for cell in without.counts:
        cell.database_command = []
        for life in cell.lives:
            life.database = None
    assert counts.mismatch(with_db, with_db) is None
    said = counts.mismatch(without, with_db)
    assert said == f"the database under valgrind in {with_db.run_id} only (--count-database)"


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--count-database"], "--count-database counts the database of a counted run: add "
         "--count"),
        (["--count", "--count-database", "--db", "external"], "--count-database runs Postgres "
         "under valgrind: drop --db external"),
    ],
    ids=["without-count", "external"],
)  # fmt: skip
def test_count_database_refuses_what_it_cannot_count_in_one_line(
    tmp_path: Path, args: list[str], says: str
) -> None:
    out = tmp_path / "run"
    env = {**ENV, "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}
    result = subprocess.run(
        [sys.executable, "-m", "bench", "run", *args, "--out", str(out)],
        env=env, capture_output=True, text=True, timeout=60, cwd=REPO,
    )  # fmt: skip
    assert result.returncode == 2, result.stdout + result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"bench: error: {says}"), line
    assert not out.exists()


@pytest.mark.slow
def test_a_counted_run_counts_the_database_backends_of_a_real_axum(tmp_path: Path) -> None:
    """axum and a throwaway Postgres, both under callgrind: two lives of 50 counted requests,
    each life's five pool backends found and counted, the two lives within 3%."""
    out = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "-m", "bench", "run", "--count", "--count-database", "--variants",
         "axum", "--repeats", "2", "--requests", "50", "--out", str(out)],
        env=ENV, capture_output=True, text=True, timeout=600, cwd=REPO,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    run = load(out / "results.json")
    (cell,) = run.counts
    assert cell.error is None and cell.database_error is None, cell.database_error
    assert "--trace-children=yes" in cell.database_command
    assert cell.database_command[-1].endswith("/postgres")
    first, second = (life.database for life in cell.lives)
    assert first is not None and second is not None
    assert first.backends == second.backends == cell.params.connections() == 5
    # 417,800 a request over 200 requests on 2026-12-05: one query of 100 rows and its
    # protocol, not a connection's start (a SCRAM handshake alone is about 28 million)
    assert 100_000 < first.per_request < 2_000_000
    assert abs(first.per_request / second.per_request - 1) < 0.03
    assert len(list((out / "counts" / "axum.life1" / "database").glob("callgrind.out.*"))) == 5
    assert "database instructions per request" in (out / "report.md").read_text()
    (out_file,) = [a for a in cell.database_command if a.startswith("--callgrind-out-file=")]
    cluster = out_file.split("=", 1)[1].rsplit("/callgrind/", 1)[0]
    assert not Path(cluster).exists()
    left = [p.pid for p in psutil.process_iter(["cmdline"]) if cluster in " ".join(
        p.info["cmdline"] or [])]  # fmt: skip
    assert left == []
