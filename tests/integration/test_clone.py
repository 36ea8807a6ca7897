"""When the repository is cloned into an empty folder, with no ../shared beside it, its unit
tests pass there: every fixture and example a test reads lives inside the repository."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.paths import REPO


def tracked_files() -> list[str]:
    """The files git tracks, as they are in the work tree (so uncommitted edits are checked too)."""
    if not (REPO / ".git").exists():
        pytest.fail(f"{REPO} is not a git checkout: cannot tell which files a clone would have")
    out = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, check=True, capture_output=True)
    return [name for name in out.stdout.decode().split("\0") if name and (REPO / name).exists()]


def test_unit_tests_pass_in_a_clone_without_shared(tmp_path: Path) -> None:
    clone = tmp_path / "zflume"
    for name in tracked_files():
        target = clone / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, target)
    assert not (tmp_path / "shared").exists()
    env = {**os.environ, "PYTHONPATH": str(clone), "PYTHONDONTWRITEBYTECODE": "1"}
    where = subprocess.run([sys.executable, "-c", "import services, tests.paths; "
                            "print(services.__file__); print(tests.paths.REPO)"],
                           cwd=clone, env=env, check=True, capture_output=True, text=True)
    assert all(line.startswith(str(clone)) for line in where.stdout.split()), where.stdout
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          "tests/unit"], cwd=clone, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert " passed" in run.stdout
