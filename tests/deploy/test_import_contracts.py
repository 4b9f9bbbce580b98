"""The layers are enforced: the import contracts hold on the tree, and a deliberate violation breaks them.

The contracts live in pyproject.toml ([tool.importlinter]) and run in `make lint`. Here they run against a copy of
the sources, once as they are and once with a flow module that imports Celery and a service that imports another.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

_SOURCES = ("shared/src", "services/slack_adapter/src", "services/teams_adapter/src", "services/worker/src")
_LINT = Path(sys.executable).with_name("lint-imports")


def _copy_tree(target: Path) -> None:
    for source in _SOURCES:
        shutil.copytree(REPO / source, target / source, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    shutil.copy(REPO / "pyproject.toml", target / "pyproject.toml")


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(str(tree / s) for s in _SOURCES)}
    return subprocess.run(
        [str(_LINT), str(tree / "pyproject.toml"), "--no-cache"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    if not _LINT.exists():
        pytest.fail("lint-imports is not installed (the dev extra has import-linter)")
    _copy_tree(tmp_path)
    return tmp_path


def test_the_contracts_hold_and_a_violation_breaks_them(tree: Path) -> None:
    kept = _lint(tree)
    assert kept.returncode == 0, kept.stdout + kept.stderr
    assert "0 broken" in kept.stdout

    (tree / "shared/src/ragbot/flow/leak.py").write_text("import celery\n")
    (tree / "services/teams_adapter/src/teams_adapter/leak.py").write_text("import slack_adapter.translate\n")
    broken = _lint(tree)
    assert broken.returncode != 0
    assert "ragbot.flow.leak -> celery" in broken.stdout
    assert "teams_adapter.leak -> slack_adapter.translate" in broken.stdout
    assert "The flow is plain functions over ports, models and errors" in broken.stdout
    assert "Services never import each other BROKEN" in broken.stdout
