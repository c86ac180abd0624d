"""The scale profile (conformance/scale.py): its slices compose to the reference on whole arrays,
torch passes it at the smoke shapes, the profile collects only its own tests, and a fault that only
a long reduction shows fails the scale profile and nothing else."""

import os

import numpy as np
import pytest
import torch

from conformance import scale
from conformance.adapters import TorchAdapter
from conformance.checks import run_check
from conformance.domains import real
from conformance.harness import reference_function
from conformance.targets import TorchTarget, load_module
from tests.planted import failures, faulty_target

PORTS = os.path.join(os.path.dirname(__file__), "ports")
SMOKE = scale.cases("scale-smoke")


@pytest.mark.parametrize("case", SMOKE, ids=str)
def test_slices_compose_to_the_reference_on_whole_arrays(case):
    """What the checks compare with, assembled from slices, is the reference's value for the whole
    call: the reduced output (the mean's divisor included) and the gradient, slice by slice."""
    arguments, _ = case.spec.build(case)
    values = {name: scale._numpy(value) for name, value in arguments.items()}
    expected = reference_function(case.function)(**values)
    spans = scale._slices(case, arguments)
    if case.spec.rows:
        assert len(spans) >= 2  # the smoke shapes pass through several slices
        np.testing.assert_allclose(scale.reference_total(case, arguments), expected, rtol=1e-12, atol=0)
    grad_output = real(case.rng(1), np.shape(expected), "float64")
    first = scale._first(case)
    gradient = reference_function(case.function, backward=True)(grad_output, **values)[first]
    whole = scale._whole(case, arguments)
    composed = np.concatenate([scale.reference_slice(case, arguments, whole, span, grad_output) for span in spans])
    np.testing.assert_allclose(composed, gradient, rtol=1e-12, atol=1e-300)


def test_the_same_case_draws_the_same_inputs():
    case = SMOKE[0]
    first, second = case.spec.build(case)[0], case.spec.build(scale.find(case.id))[0]
    assert all(bool((first[n] == second[n]).all()) for n in first if hasattr(first[n], "shape"))


@pytest.mark.parametrize("check", ["scale_forward", "scale_backward"])
def test_torch_passes_the_smoke_profile(check):
    target = TorchTarget(__import__("torch").nn.functional)
    outcomes = {case.id: run_check(check, case, target) for case in SMOKE}
    assert {i: o.message for i, o in outcomes.items() if o.status != "passed"} == {}


def _collect(*options):
    class Collected:
        def pytest_collection_finish(self, session):
            self.ids = [item.nodeid for item in session.items]

    collected = Collected()
    code = pytest.main(["--pyargs", "conformance", "--collect-only", "-q", "-p", "no:cacheprovider", *options],
                       plugins=[collected])
    assert code == 0
    return collected.ids


def test_the_profile_collects_only_its_own_tests():
    scaled = _collect("--conformance-profile=scale-smoke")
    assert len(scaled) == 2 * len(SMOKE)
    assert all("::test_scale_forward[" in n or "::test_scale_backward[" in n for n in scaled)
    default = _collect("--conformance-function=soft_margin_loss")
    assert default and not any("test_scale" in n for n in default)


@pytest.mark.slow
def test_a_fault_only_a_long_reduction_shows_fails_the_scale_profile_and_nothing_else(monkeypatch):
    """tests/ports/half_accumulating_bce.py adds its blocks of 65536 losses in a float16 accumulator:
    every case of the default grid and of the smoke profile passes, the 2**27-element scale case
    fails forward in float32 and in bfloat16 (about 9% off), and torch passes that same check, so it
    is the fault, not the check. (Its backward is off by one float16 rounding of grad_output, at most
    2**-12 relative, which may or may not exceed the float32 budget of 5.3e-5 for a given draw.)"""
    port = load_module(os.path.join(PORTS, "half_accumulating_bce.py"))
    function = "binary_cross_entropy_with_logits"
    planted = faulty_target(**{function: getattr(port, function)})
    assert failures(planted, function, dtypes=("float64", "float32", "float16", "bfloat16")) == []
    for case in scale.cases("scale-smoke", functions=(function,)):
        for check in ("scale_forward", "scale_backward"):
            assert run_check(check, case, planted).status == "passed", case.id
    torch_target = TorchTarget(__import__("torch").nn.functional)
    totals, total = {}, scale.reference_total

    def once(case, arguments):  # the reference's sum of a case's 2**27 elements, for the port and torch
        if case.id not in totals:
            totals[case.id] = total(case, arguments)
        return totals[case.id]

    monkeypatch.setattr(scale, "reference_total", once)
    for case in scale.cases("scale", functions=(function,)):
        assert case.elements() == 2**27
        outcome = run_check("scale_forward", case, planted)
        assert outcome.status == "failed" and outcome.message.startswith("output: got "), outcome.message
        assert "rerun: pytest --pyargs \"conformance.test_conformance::test_scale_forward[" in outcome.message
        assert run_check("scale_forward", case, torch_target).status == "passed"


def test_a_sample_of_slices_keeps_the_first_and_the_last(monkeypatch):
    spans = [(i, i + 1) for i in range(10)]
    monkeypatch.setattr(scale, "SAMPLE", 3)
    assert scale._sampled(spans) == [(0, 1), (4, 5), (9, 10)] or scale._sampled(spans) == [(0, 1), (5, 6), (9, 10)]
    monkeypatch.setattr(scale, "SAMPLE", 0)
    assert scale._sampled(spans) == spans


class _NoGradients(TorchAdapter):
    """torch's own tensors, but an autodiff that reports every gradient as unused (None)."""

    def gradients(self, fn, args, kwargs, names, grad_output, out):
        return dict.fromkeys(names)


def test_the_scale_backward_asks_the_adapter_and_reads_none_as_a_zero_gradient():
    """The scale check goes through the target's adapter, as the grid's does, and reads a None
    gradient by the one rule (a zero gradient). Before, it called torch.autograd itself, so this
    adapter was never asked and the check passed."""
    target = TorchTarget(torch.nn.functional, "no-gradients", adapter=_NoGradients())
    case = SMOKE[0]
    outcome = run_check("scale_backward", case, target)
    assert outcome.status == "failed", outcome.message
    assert outcome.message.startswith("grad of input: got 0") and "None" not in outcome.message, outcome.message
    assert run_check("scale_backward", case, TorchTarget(torch.nn.functional)).status == "passed"
