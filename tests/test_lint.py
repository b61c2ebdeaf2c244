"""The code stays within the project's ruff rules (configured in pyproject.toml)."""

import shutil
import subprocess
import sys

from partnerdir.project import ROOT


def test_ruff_finds_nothing():
    ruff = shutil.which("ruff")
    command = [ruff] if ruff else [sys.executable, "-m", "ruff"]
    result = subprocess.run([*command, "check", "partnerdir", "tests", "benchmarks", "build.py"],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
