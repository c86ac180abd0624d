"""A faithful re-export of torch.nn.functional that declares INHERITS_TORCH_DIVERGENCES
(tests/ports/reexport_torch.py) passes, with torch's known divergences as its own: in the grid, its
size regimes and accuracy records included, and in the property search (where the records were once
not inherited: test_batch_permutation[nll_loss] failed on uint8 K-dimensional targets)."""

import os
import subprocess
import sys

import pytest

from tests.cli import conformance

HERE = os.path.dirname(os.path.abspath(__file__))
REEXPORT = os.path.join(HERE, "ports", "reexport_torch.py")


def test_the_property_search_inherits_torchs_records(tmp_path):
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--pyargs",
                             "conformance.test_properties", f"--conformance-target={REEXPORT}",
                             "-k", "nll_loss or cross_entropy"], cwd=tmp_path, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stdout[-3000:]


@pytest.mark.slow
def test_a_reexport_passes_the_grid_with_torchs_records(tmp_path):
    """nll_loss: the function with the most records of every kind (xfails of the grid and of the size
    regimes, an accuracy record)."""
    result = conformance(["--target", REEXPORT, "--function", "nll_loss", "--report-dir", "reports"], tmp_path)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "passed:" in result.stdout
