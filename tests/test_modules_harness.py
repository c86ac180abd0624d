"""Tests of conformance/modules.py: the sample covers every option value, the table's
placement is enforced, and planted wrong modules are caught with a pasteable call."""

import warnings
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from conformance.modules import (
    BY_MODULE,
    MODULES,
    ModuleCase,
    ModuleSpec,
    check_module_backward,
    check_module_forward,
    sample,
    split,
)
from conformance.registry import REGISTRY, Call

F = torch.nn.functional


@pytest.mark.parametrize("module_spec", MODULES, ids=lambda m: m.module)
def test_sample_covers_every_option_value(module_spec):
    spec = REGISTRY.get(module_spec.function)
    if spec is None:
        pytest.skip("not in the registry yet")
    from conformance.cases import generate

    cases = sample(module_spec, spec)
    everything = [c for c in generate(spec, ("float64", "float32"))
                  if not module_spec.functional_only or not any(
                      spec.sample(c.rng(), c).args.get(n) is not None for n in module_spec.functional_only)]

    def seen(pool):
        return {(n, repr(c.option(n))) for c in pool for n in spec.options} | {c.values for c in pool} | \
               {c.shape for c in pool} | {c.dtype for c in pool}

    assert seen(cases) == seen(everything)
    assert len(cases) <= len(everything)


def test_split_places_every_argument():
    call = Call({"input": np.zeros(3), "target": np.zeros(3), "reduction": "sum", "beta": 0.5}, positional=2)
    constructor, forward, _ = split(BY_MODULE["SmoothL1Loss"], call, "float64", "cpu")
    assert constructor == {"reduction": "sum", "beta": 0.5} and len(forward) == 2
    with pytest.raises(KeyError, match="beta"):
        split(BY_MODULE["MSELoss"], call, "float64", "cpu")


class _IgnoresBeta(torch.nn.Module):
    """A port that forgets to pass ``beta`` on."""

    def __init__(self, reduction="mean", beta=1.0):
        super().__init__()
        self.reduction = reduction

    def forward(self, input, target):
        return F.smooth_l1_loss(input, target, reduction=self.reduction)


class _DetachedMargin(torch.nn.Module):
    """A port whose forward detaches the second input."""

    def __init__(self, margin=0.0, reduction="mean"):
        super().__init__()
        self.margin, self.reduction = margin, reduction

    def forward(self, input1, input2, target):
        return F.margin_ranking_loss(input1, input2.detach(), target, margin=self.margin, reduction=self.reduction)


@dataclass(frozen=True)
class _Planted(ModuleSpec):
    planted: type = None

    @property
    def cls(self):
        return self.planted


def _failures(module_spec, check):
    spec = REGISTRY.get(module_spec.function)
    if spec is None:
        pytest.skip("not in the registry yet")
    return [c for c in sample(module_spec, spec) if not check(ModuleCase(module_spec, c)).ok]


def test_planted_ignored_option_is_caught():
    table = BY_MODULE["SmoothL1Loss"]
    planted = _Planted(table.module, table.function, table.forward, table.options, planted=_IgnoresBeta)
    failures = _failures(planted, check_module_forward)
    assert failures and all(c.option("beta") != 1.0 for c in failures)
    message = check_module_forward(ModuleCase(planted, failures[0])).message
    assert "torch.nn.SmoothL1Loss(" in message and "rerun: pytest" in message


def test_planted_detached_input_is_caught():
    table = BY_MODULE["MarginRankingLoss"]
    planted = _Planted(table.module, table.function, table.forward, table.options, planted=_DetachedMargin)
    assert not _failures(planted, check_module_forward)
    failures = _failures(planted, check_module_backward)
    assert failures
    assert "grad of input2" in check_module_backward(ModuleCase(planted, failures[0])).message


def test_reproducer_runs():
    table = BY_MODULE["SmoothL1Loss"]
    planted = _Planted(table.module, table.function, table.forward, table.options, planted=_IgnoresBeta)
    small = [c for c in _failures(planted, check_module_forward) if c.shape and np.prod(c.shape) <= 8]
    call_line = next(line for line in check_module_forward(ModuleCase(planted, small[0])).message.splitlines()
                     if line.startswith("call: "))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the broadcasting cases warn about the target size
        out = eval(call_line[len("call: "):], {"torch": torch})  # the real module this time
    assert isinstance(out, torch.Tensor)


class _ChangesDefaultDtype(torch.nn.MSELoss):
    """A correct MSELoss whose forward leaves the default dtype at float64 behind it."""

    def forward(self, input, target):
        torch.set_default_dtype(torch.float64)
        return super().forward(input, target)


def test_a_module_that_changes_global_state_fails_and_the_state_is_put_back():
    """The module checks call the module under the same guard as every other check: the change
    fails the case, names what changed and is undone. Before, the module was called bare, so the
    case passed and the default dtype stayed float64 for every case after it."""
    table = BY_MODULE["MSELoss"]
    planted = _Planted(table.module, table.function, table.forward, table.options, planted=_ChangesDefaultDtype)
    case = sample(planted, REGISTRY[table.function])[0]
    for check in (check_module_forward, check_module_backward):
        outcome = check(ModuleCase(planted, case))
        assert outcome.status == "failed", outcome.message
        assert "changed global state (put back for the next case): default dtype torch.float32 -> torch.float64" \
            in outcome.message and "rerun: pytest" in outcome.message
        assert torch.get_default_dtype() == torch.float32
