"""Layout cases (conformance/layouts.py): the same values stored transposed, sliced, expanded or
channels_last reach the target that way, a port that assumes contiguous storage fails exactly
those cases, and an array target skips them with the reason."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from conformance import layouts
from conformance.cases import find, generate
from conformance.checks import run_check
from conformance.harness import materialize
from conformance.registry import REGISTRY
from conformance.tensors import to_layout
from tests.planted import faulty_target


@pytest.mark.parametrize("layout", layouts.LAYOUTS)
def test_a_layout_keeps_the_values_and_changes_the_strides(layout):
    shape = (2, 3, 4, 5)
    x = torch.arange(120, dtype=torch.float32).reshape(shape)
    if layout == "expanded":
        x = x[:1].expand(shape).clone()  # the values the layout stores
    stored = to_layout(x, layout)
    assert torch.equal(stored, x) and stored.shape == x.shape
    assert not stored.is_contiguous() or layout == "channels_last"
    if layout == "channels_last":
        assert stored.is_contiguous(memory_format=torch.channels_last)
    if layout == "expanded":
        assert stored.stride(0) == 0


def test_layout_cases_reach_the_target_in_their_layout():
    seen = {}

    def mse_loss(input, target, *args, **kwargs):
        seen[layout] = (input.stride(), target.stride(), input.is_contiguous())
        return F.mse_loss(input, target, *args, **kwargs)

    target = faulty_target(mse_loss=mse_loss)
    for layout in ("transposed", "sliced", "expanded"):
        case = next(c for c in generate(REGISTRY["mse_loss"], layouts=True) if c.layout == layout)
        assert run_check("forward", case, target).status == "passed"
        assert seen[layout][2] is False and seen[layout][0] == seen[layout][1]
    assert seen["expanded"][0][0] == 0


def _assumes_contiguous(input, target, *args, **kwargs):
    """mse_loss of a port that reads its input's storage as if it were contiguous."""
    flat = torch.as_strided(input, (input.numel(),), (1,))
    return F.mse_loss(flat.reshape(input.shape), target, *args, **kwargs)


def test_a_port_that_assumes_contiguous_storage_fails_the_layout_cases_only():
    target = faulty_target(mse_loss=_assumes_contiguous)
    cases = generate(REGISTRY["mse_loss"], dtypes=("float64", "float32"), layouts=True)
    failed = {c.id for c in cases if run_check("forward", c, target).status == "failed"}
    laid_out = {c.id for c in cases if c.layout != "contiguous"}
    assert failed and failed <= laid_out  # every contiguous case passes
    assert {find(i).layout for i in failed} == set(layouts.LAYOUTS)


def test_an_array_target_skips_layout_cases_with_the_reason():
    from conformance.adapters import reference_module
    from conformance.targets import ArrayTarget

    port = ArrayTarget(reference_module(), "reference")
    case = next(c for c in generate(REGISTRY["mse_loss"], layouts=True) if c.layout == "sliced")
    outcome = run_check("forward", case, port)
    assert outcome.status == "skipped" and "layout 'sliced'" in outcome.message


def test_a_layout_case_reproduces_in_its_layout():
    case = next(c for c in generate(REGISTRY["mse_loss"], layouts=True) if c.layout == "transposed")
    args, kwargs = materialize(case.id)
    assert not args[0].is_contiguous()
    outcome = run_check("forward", case, faulty_target(mse_loss=_assumes_contiguous))
    assert f"materialize({case.id!r})" in outcome.message
    expected = F.mse_loss(*args, **kwargs)
    assert np.isfinite(expected.item())
