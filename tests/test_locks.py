"""Locked environments: every lock hashed and in step with pyproject.toml, venvs exactly locked."""

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from bench import REPO
from bench.plan.matrix import Variant, load_variants
from bench.run.environment import packages
from bench.sut import locks

PYTHON_VARIANTS = [v for v in load_variants().values() if v.python]


def requirements(project: Path, extras: tuple[str, ...]) -> list[str]:
    """The dependencies pyproject.toml declares for `extras`."""
    spec = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    declared = list(spec.get("dependencies", []))
    return declared + [r for extra in extras for r in spec["optional-dependencies"][extra]]


LOCKS = [(locks.HARNESS_LOCK, requirements(REPO, locks.HARNESS_EXTRAS))] + [
    (locks.lock_file(v), requirements(v.folder, v.app_extras) + list(v.requires))
    for v in PYTHON_VARIANTS
]


@pytest.mark.parametrize(("lock", "declared"), LOCKS, ids=lambda x: getattr(x, "stem", None))
def test_each_lock_is_hashed_and_satisfies_its_pyproject_and_runtimes(
    lock: Path, declared: list[str]
) -> None:
    text = lock.read_text()
    pinned = locks.pins(lock)
    hashed = re.findall(r"^\S+==\S+[^\n]*\\\n\s+--hash=sha256:[0-9a-f]{64}", text, re.MULTILINE)
    assert pinned and len(hashed) == len(pinned), f"{lock.name}: a pin without a hash"
    versions: dict[str, list[str]] = {}
    for name, version, _ in pinned:
        versions.setdefault(name, []).append(version)
    for req in map(Requirement, declared):
        name = locks.normalize(req.name)
        assert name in versions, f"{req} is not in {lock.name}: run `nox -s lock`"
        assert any(req.specifier.contains(v, prereleases=True) for v in versions[name]), (
            f"{lock.name} pins {name} {versions[name]}, outside {req}: run `nox -s lock`"
        )


@pytest.mark.slow
def test_a_built_venv_holds_exactly_its_lock(variant: Variant) -> None:
    installed = {locks.normalize(n): v for n, v in packages(variant).items()}
    if not variant.python:
        assert installed == {"bench-axum": "0.1.0"}
        return
    assert installed == {**locks.applicable(locks.lock_file(variant)), "bench-fastapi": "0.1.0"}


@pytest.mark.slow
@pytest.mark.parametrize("variant", PYTHON_VARIANTS, ids=lambda v: v.name)
def test_relocking_changes_nothing_when_nothing_changed(variant: Variant, tmp_path: Path) -> None:
    """What `nox -s lock` does to a variant, done on a copy: the same bytes come back."""
    committed = locks.lock_file(variant)
    copy = tmp_path / committed.name
    copy.write_bytes(committed.read_bytes())
    locks.compile_lock(variant.folder, variant.app_extras, copy, False, variant.requires)
    assert copy.read_text() == committed.read_text(), f"`nox -s lock` would change {committed}"
