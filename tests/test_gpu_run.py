"""benchmarks/gpu_run.py, the one call that runs everything a GPU is needed for, in its CPU smoke
mode (tiny shapes, the same steps), so that it cannot rot between GPU runs; and that without a GPU
and without --smoke it refuses instead of reporting a run that did not happen."""

import json
import os
import subprocess
import sys

import pytest

SCRIPT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks", "gpu_run.py")


@pytest.mark.slow
def test_smoke_mode_runs_every_step_and_writes_one_folder(tmp_path):
    result = subprocess.run([sys.executable, SCRIPT, "--smoke", "--out", str(tmp_path)], capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["passed"] and summary["smoke"]
    steps = {s["step"]: s for s in summary["steps"]}
    assert list(steps) == ["conformance", "bench-cross-entropy", "scale"]
    assert steps["conformance"]["verdict"].startswith("passed: ")
    assert steps["scale"]["verdict"].startswith("passed: 26 passed")
    assert " passed" in steps["bench-cross-entropy"]["verdict"]
    for name in ("environment.json", "summary.md", "conformance.log", "scale-smoke/conformance.json",
                 "conformance-cpu/conformance.json"):
        assert (tmp_path / name).exists(), name


def test_without_a_gpu_it_refuses_to_pretend(tmp_path):
    import pytest
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is here: the script runs for real")
    result = subprocess.run([sys.executable, SCRIPT, "--out", str(tmp_path)], capture_output=True, text=True)
    assert result.returncode == 2 and "no CUDA device" in result.stderr
    assert not (tmp_path / "summary.json").exists()
