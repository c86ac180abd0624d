"""The determinism and legacy-argument checks fail on a planted fault."""

import itertools

import pytest
import torch
import torch.nn._reduction as torch_reduction
import torch.nn.functional as F

from conformance import test_determinism, test_legacy  # modules, so pytest does not collect their tests here
from conformance.cases import find
from tests.planted import faulty_target


def test_determinism_check_catches_a_nondeterministic_target():
    calls = itertools.count(1)

    def softmax(input, dim=None, _stacklevel=3, dtype=None):
        out = F.softmax(input, dim, dtype=dtype)
        return out * (1 + next(calls) * torch.finfo(out.dtype).eps)  # each call a few ulps apart

    with pytest.raises(pytest.fail.Exception, match="is not reproducible"):
        test_determinism.test_same_case_twice_gives_identical_bits(find("softmax(float64, (3, 4), dim=1)"),
                                                                   faulty_target(softmax=softmax))


@pytest.fixture
def swapped_legacy_mapping(monkeypatch):
    """torch's size_average/reduce mapping with 'sum' and 'mean' swapped."""
    original = torch_reduction.legacy_get_string

    def swapped(size_average, reduce, emit_warning=True):
        reduction = original(size_average, reduce, emit_warning)
        return {"sum": "mean", "mean": "sum"}.get(reduction, reduction)

    monkeypatch.setattr(torch_reduction, "legacy_get_string", swapped)


@pytest.mark.parametrize("check", ["test_legacy_functional", "test_legacy_module"])
def test_legacy_checks_catch_a_wrong_mapping(swapped_legacy_mapping, check):
    with pytest.raises(AssertionError):
        getattr(test_legacy, check)("mse_loss", False, True)  # documented: 'sum'
