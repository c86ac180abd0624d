"""benchmarks/reference_speed.py runs (``--quick``: tiny shapes, one round) and prints one
table row per registered function, its reference checked against torch."""

import subprocess
import sys
from pathlib import Path

from conformance.registry import REGISTRY

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "reference_speed.py"


def _run(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=300)


def test_quick_run_prints_a_row_per_function():
    result = _run("--quick")
    assert result.returncode == 0, result.stdout + result.stderr
    rows = [line for line in result.stdout.splitlines() if line.startswith("| ") and "---" not in line]
    header, body = rows[0], rows[1:]
    assert header.startswith("| function | shape | reference s | torch s | floor s |")
    assert [row.split(" | ")[0][2:] for row in body] == list(REGISTRY)
    assert all(len(row.split(" | ")) == 8 for row in body)
    assert "differs from torch" not in result.stdout


def test_function_selection_and_an_unknown_name():
    result = _run("--quick", "--function", "mse_loss,cross_entropy")
    assert result.returncode == 0, result.stderr
    assert [line.split(" | ")[0][2:] for line in result.stdout.splitlines()[3:]] == ["cross_entropy", "mse_loss"]
    assert _run("--quick", "--function", "no_such_loss").returncode == 2
