"""The ``torch.nn`` loss modules: the table covers them all, each module computes what the
reference computes for its functional (value and gradients, on a sample of the registry's
cases), and the tensors it registers as buffers follow ``.to()`` and the ``state_dict``.

The modules are always torch's: ``--target`` selects a functional implementation and
does not apply here.
"""

import inspect

import numpy as np
import pytest
import torch

from conformance.divergences import load
from conformance.guard import quiet
from conformance.harness import reference_function
from conformance.modules import (
    BY_MODULE,
    LEGACY,
    MODULES,
    OUT_OF_SCOPE,
    ModuleCase,
    check_module_backward,
    check_module_forward,
    discover,
    sample,
    split,
)
from conformance.registry import REGISTRY
from conformance.tensors import to_numpy

DIVERGENCES = {}
for _divergence in load():
    DIVERGENCES.setdefault(_divergence.function, []).append(_divergence)


def _divergent(case):
    """Known torch divergences of the functional hold for the module that wraps it; those
    cases are left to the functional's own (xfailed) tests."""
    divergences = DIVERGENCES.get(case.function)
    if not divergences:
        return False
    case_id = case.id
    return any(d.applies(test, case_id) for d in divergences for test in ("forward", "backward"))


def _params():
    params = []
    for module_spec in MODULES:
        spec = REGISTRY.get(module_spec.function)
        if spec is None:
            params.append(pytest.param(None, id=f"{module_spec.module} <- {module_spec.function}",
                                       marks=pytest.mark.skip(reason="not in the registry yet")))
            continue
        for case in sample(module_spec, spec, skip=_divergent):
            module_case = ModuleCase(module_spec, case)
            params.append(pytest.param(module_case, id=module_case.id))
    return params


PARAMS = _params()


def _report(outcome):
    if outcome.status == "skipped":
        pytest.skip(outcome.message)
    if outcome.status == "failed":
        pytest.fail(outcome.message, pytrace=False)


@pytest.mark.parametrize("module_case", PARAMS)
def test_module_forward(module_case):
    _report(check_module_forward(module_case))


@pytest.mark.parametrize("module_case", PARAMS)
def test_module_backward(module_case):
    _report(check_module_backward(module_case))


def test_table_covers_every_loss_module():
    found = discover()
    uncovered = sorted(found - set(BY_MODULE) - set(OUT_OF_SCOPE))
    assert not uncovered, f"loss modules in this torch that conformance/modules.py does not cover: {uncovered}"
    stale = sorted(set(BY_MODULE) - found)
    assert not stale, f"conformance/modules.py covers modules this torch does not have: {stale}"


@pytest.mark.parametrize("module_spec", MODULES, ids=lambda m: m.module)
def test_table_matches_signatures(module_spec):
    """The table places every argument of the functional exactly once, in a place the
    module's constructor or forward has."""
    constructor = set(inspect.signature(module_spec.cls.__init__).parameters) - {"self"}
    forward = [p for p in inspect.signature(module_spec.cls.forward).parameters if p != "self"]
    functional = [p for p in inspect.signature(getattr(torch.nn.functional, module_spec.function)).parameters
                  if p not in LEGACY]
    assert set(module_spec.constructor_arguments()) <= constructor, (
        f"not constructor arguments of {module_spec.module}: "
        f"{sorted(set(module_spec.constructor_arguments()) - constructor)}")
    assert len(module_spec.forward) == len(forward), f"{module_spec.module}.forward takes {forward}"
    placed = list(module_spec.forward + module_spec.constructor_arguments() + module_spec.functional_only)
    assert sorted(placed) == sorted(functional), f"table places {sorted(placed)}, the functional takes {functional}"
    # what the module's constructor takes beyond the table is only the deprecated pair
    assert constructor - set(module_spec.constructor_arguments()) <= set(LEGACY)


# -- buffers ----------------------------------------------------------------------------

WITH_BUFFERS = [m for m in MODULES if m.buffers]


def _buffer_call(module_spec):
    """A float32 case of the module's functional with every buffer set."""
    from conformance.cases import generate

    spec = REGISTRY.get(module_spec.function)
    if spec is None:
        pytest.skip("not in the registry yet")
    for case in generate(spec, ("float32",)):
        if case.values != "normal" or 0 in case.shape or _divergent(case):
            continue
        call = spec.sample(case.rng(), case)
        if all(isinstance(call.args.get(n), np.ndarray) for n in module_spec.buffers):
            return case, call
    pytest.fail(f"no case of {module_spec.function} sets {module_spec.buffers}")


def _forward_matches_reference(module, module_spec, case, call, dtype, device):
    _, forward, _ = split(module_spec, call, dtype, device)
    out = quiet(module, *forward)
    positional, keywords = call.split()
    expected = quiet(reference_function(module_spec.function), *positional, **keywords)
    from conformance.compare import compare
    from conformance.harness import terms

    assert out.dtype == getattr(torch, dtype) and out.device.type == torch.device(device).type
    result = compare(to_numpy(out), expected, dtype, case.spec.tolerance(dtype), terms=terms(call))
    assert result.ok, f"{module_spec.module} after .to(): {result.message} (case {case.id})"


@pytest.mark.parametrize("module_spec", WITH_BUFFERS, ids=lambda m: m.module)
def test_buffers_follow_dtype_and_state_dict(module_spec):
    case, call = _buffer_call(module_spec)
    constructor, _, _ = split(module_spec, call, "float64", "cpu")
    module = quiet(module_spec.cls, **constructor)
    assert set(dict(module.named_buffers())) == set(module_spec.buffers)
    state = module.state_dict()
    for name in module_spec.buffers:
        assert name in state, f"{name} is not in {module_spec.module}'s state_dict"
        assert torch.equal(state[name], constructor[name])
    for dtype in (torch.float16, torch.bfloat16, torch.float32):
        moved = quiet(module_spec.cls, **constructor).to(dtype)
        for name in module_spec.buffers:
            assert getattr(moved, name).dtype == dtype, f"{name} did not follow .to({dtype})"
    module.to(torch.float32)
    # float32 buffers holding the case's (float32) values: the module computes the case
    _forward_matches_reference(module, module_spec, case, call, "float32", "cpu")
    fresh = quiet(module_spec.cls, **{**constructor, **{n: torch.zeros_like(constructor[n])
                                                          for n in module_spec.buffers}})
    fresh.load_state_dict(state)
    for name in module_spec.buffers:
        assert torch.equal(getattr(fresh, name), state[name])
    empty = quiet(module_spec.cls, **{n: v for n, v in constructor.items() if n not in module_spec.buffers})
    assert dict(empty.named_buffers()) == {} and not set(empty.state_dict()) & set(module_spec.buffers)


@pytest.mark.parametrize("module_spec", WITH_BUFFERS, ids=lambda m: m.module)
def test_buffers_follow_device(module_spec):
    if not torch.cuda.is_available():
        pytest.skip("CUDA is not available")
    case, call = _buffer_call(module_spec)
    constructor, _, _ = split(module_spec, call, "float32", "cpu")
    module = quiet(module_spec.cls, **constructor).to("cuda")
    for name in module_spec.buffers:
        assert getattr(module, name).device.type == "cuda"
    _forward_matches_reference(module, module_spec, case, call, "float32", "cuda")
