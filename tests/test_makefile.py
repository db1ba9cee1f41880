"""The Makefile's demo rules, dry-run (`make -n`) in a folder that mimics a set-up clone."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def planned(folder: Path) -> str:
    return subprocess.run(["make", "-n", "demo"], cwd=folder, capture_output=True, text=True,
                          check=True, timeout=60).stdout


@pytest.fixture
def clone(tmp_path) -> Path:
    """A Makefile with its configs and an installed .venv, older than nothing it needs."""
    shutil.copy(REPO / "Makefile", tmp_path / "Makefile")
    for name in ("pyproject.toml", "configs/demo.yaml", ".venv/.installed"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
    past = time.time() - 3600
    for name in ("pyproject.toml", "configs/demo.yaml"):
        os.utime(tmp_path / name, (past, past))
    return tmp_path


def test_a_training_that_did_not_finish_is_trained_again(clone):
    assert "seq2seq-train fit" in planned(clone)
    (clone / "runs/demo").mkdir(parents=True)
    (clone / "runs/demo/best.ckpt").write_text("")  # left by a run killed after an epoch
    assert "seq2seq-train fit" in planned(clone)
    (clone / "runs/demo/trained").write_text("")  # written when training ended well
    assert "seq2seq-train fit" not in planned(clone)
    an_hour_ago = time.time() - 1800  # older than the config edited now, whatever the clock's grain
    os.utime(clone / "runs/demo/trained", (an_hour_ago, an_hour_ago))
    os.utime(clone / "configs/demo.yaml")  # a changed config trains again
    assert "seq2seq-train fit" in planned(clone)
