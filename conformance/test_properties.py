"""Property-based search for counterexamples, one test per property and function.

The default run draws a few derandomized examples per test; the thorough search runs with
``HYPOTHESIS_PROFILE=thorough pytest conformance/test_properties.py`` (see
:mod:`conformance.properties`). A failure prints the shrunk call as a pasteable snippet.
"""

import numpy as np
import pytest
from hypothesis import assume, event, given, note
from hypothesis import strategies as st

from . import divergences
from . import properties as P
from .registry import REGISTRY

FUNCTIONS = sorted(REGISTRY)


def _known(test, drawn, target):
    """Whether ``drawn`` is a known divergence of torch for ``test`` (then it is not judged):
    see ``P.known_divergence``."""
    known = P.known_divergence(test, drawn, target)
    if known:
        event(f"known divergence: {known.reason[:60]}")
    return known


def _fail_on(problems):
    assert not problems, "\n".join(problems)


def _with_reductions(*reductions):
    return [f for f in FUNCTIONS if P.has_reductions(REGISTRY[f], *reductions)]


def _weighted():
    return [pytest.param(f, name, id=f"{f}-{name}") for f in FUNCTIONS for name in ("weight", "pos_weight")
            if any(v is not None for v in REGISTRY[f].options.get(name, (None,)))]


def _with_float32():
    return [f for f in FUNCTIONS if {"float32", "float64"} <= set(REGISTRY[f].dtypes)]


def _runners(target, drawn):
    return [P.Runner("target", target, drawn), P.Runner("reference", target, drawn)]


@pytest.mark.parametrize("function", FUNCTIONS)
@P.property_settings()
@given(data=st.data())
def test_differential(function, target, data):
    """The target's forward and backward match the reference on drawn values."""
    if not target.provides(function):
        pytest.skip("not provided by target")
    drawn = data.draw(P.drawn_cases(function), label="case")
    _fail_on(P.check_differential(drawn, target))


@pytest.mark.parametrize("function", _with_reductions("sum", "none"))
@P.property_settings(0.5)
@given(data=st.data())
def test_sum_of_none(function, target, data):
    if not target.provides(function):
        pytest.skip("not provided by target")
    drawn = data.draw(P.drawn_cases(function), label="case")
    if _known("sum_of_none", drawn, target):
        return
    _fail_on([m for r in _runners(target, drawn) if (m := P.sum_of_none(r, drawn))])


@pytest.mark.parametrize("function", [f for f in FUNCTIONS if f not in P.NOT_PERMUTABLE])
@P.property_settings(0.5)
@given(data=st.data())
def test_batch_permutation(function, target, data):
    if not target.provides(function):
        pytest.skip("not provided by target")
    drawn = data.draw(P.drawn_cases(function, where=lambda c: len(c.shape) >= 1 and c.shape[0] >= 2,
                                    vary_batch=False), label="case")
    none_call = P.copy_call(drawn.call, **({"reduction": "none"} if "reduction" in REGISTRY[function].options else {}))
    none_output = P.run_reference(function, none_call)
    assume(P.permutable(drawn.call, none_output))
    permutation = np.array(data.draw(st.permutations(range(none_output.shape[0])), label="permutation"))
    note(f"permutation: {permutation.tolist()}")
    if _known("batch_permutation", drawn, target):
        return
    rank = none_output.ndim
    _fail_on([m for r in _runners(target, drawn) if (m := P.batch_permutation(r, drawn, permutation, rank))])


@pytest.mark.parametrize(("function", "name"), _weighted())
@P.property_settings(0.5)
@given(data=st.data())
def test_weight_ones(function, name, target, data):
    if not target.provides(function):
        pytest.skip("not provided by target")
    drawn = data.draw(P.drawn_cases(function, where=lambda c: c.option(name) is not None), label="case")
    assume(isinstance(drawn.call.args.get(name), np.ndarray) and P.weights_every_term(drawn, name))
    if _known("weight_ones", drawn, target):
        return
    _fail_on([m for r in _runners(target, drawn) if (m := P.weight_ones(r, drawn, name))])


@pytest.mark.parametrize("function", [f for f in FUNCTIONS if "ignore_index" in REGISTRY[f].options])
@P.property_settings(0.5)
@given(data=st.data())
def test_ignore_index(function, target, data):
    if not target.provides(function):
        pytest.skip("not provided by target")
    drawn = data.draw(P.drawn_cases(function, where=P.class_index_case), label="case")
    drawn = data.draw(P.with_ignored_targets(drawn), label="ignored")
    if _known("ignore_index", drawn, target):
        return
    _fail_on([m for r in _runners(target, drawn) if (m := P.dropping_ignored(r, drawn))])


@pytest.mark.parametrize("function", _with_float32())
@P.property_settings(0.5)
@given(data=st.data())
def test_float64_bounds_float32(function, target, data):
    if not target.provides(function):
        pytest.skip("not provided by target")
    drawn = data.draw(P.drawn_cases(function, where=lambda c: c.dtype == "float32"), label="case")
    if _known("float64_bounds_float32", drawn, target):
        return
    _fail_on([m for m in [P.float64_bounds_float32(target, drawn)] if m])


def _reproducer_id(entry):
    # "any": the ids these tests had before the records moved to known_divergences/
    return f"{'any' if len(entry.tests) > 1 else entry.tests[0]}-{entry.function}"


@pytest.mark.parametrize("entry", [d for d in divergences.records() if d.kind == "property"], ids=_reproducer_id)
def test_known_divergence_still_diverges(entry, target):
    """Each property record's reproducer still fails (a strict check: a fix upstream shows here)."""
    if target.name != "torch.nn.functional":
        pytest.skip("torch's divergences say nothing about another implementation")
    assert entry.reproduce(target), f"no longer diverges, remove the entry: {entry.reason}"
