"""Deprecated arguments, on the functionals and on the ``torch.nn`` modules.

* ``size_average`` / ``reduce``: each ``None`` counts as ``True``; then ``(True, True)`` is
  ``'mean'``, ``(False, True)`` is ``'sum'`` and ``(any, False)`` is ``'none'``. Either one
  set overrides an explicit ``reduction`` and warns ``size_average and reduce args will be
  deprecated, please use reduction='<mapped>' instead.``; both ``None`` leave ``reduction``
  alone and do not warn.
* ``reduction='elementwise_mean'``: an alias of ``'mean'`` that warns, where torch still
  accepts it.
* ``softmax`` / ``log_softmax`` without ``dim``: the legacy dimension, with a warning, in
  torch and in the reference alike.
* ``kl_div(reduction='mean')``: warns that it is not the KL divergence, in torch and in
  the reference alike.

Expected values always come from the reference, called with the reduction the legacy
arguments stand for. These tests run torch's functionals and modules whatever ``--target``
says: the deprecated arguments are torch's API, not part of the functional contract.
"""

import functools
import inspect
import warnings

import numpy as np
import pytest
import torch

import reference
from conformance.cases import generate
from conformance.compare import compare
from conformance.guard import quiet
from conformance.modules import LEGACY, MODULES, split
from conformance.registry import REGISTRY
from conformance.tensors import convert_call, to_numpy

F = torch.nn.functional
FUNCTIONS = tuple(dict.fromkeys(m.function for m in MODULES))
# torch's documentation: these never had the deprecated pair
WITHOUT_LEGACY = {"huber_loss", "gaussian_nll_loss", "ctc_loss", "triplet_margin_with_distance_loss"}
COMBINATIONS = [(s, r) for s in (None, True, False) for r in (None, True, False)]
LEGACY_WARNING = "size_average and reduce args will be deprecated, please use reduction='{}' instead."
ELEMENTWISE_MEAN_WARNING = "reduction='elementwise_mean' is deprecated. Please use reduction='mean' instead."
# These check ``reduction`` in Python against the three current strings before it reaches
# ``_Reduction.get_enum`` (the one place that knows the alias), so the alias is a ValueError.
REJECT_ELEMENTWISE_MEAN = {"multilabel_soft_margin_loss", "poisson_nll_loss", "gaussian_nll_loss",
                           "triplet_margin_with_distance_loss"}


def documented_reduction(size_average, reduce):
    """The reduction torch documents for the legacy pair (``None`` counts as ``True``)."""
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    if not reduce:
        return "none"
    return "mean" if size_average else "sum"


def has_legacy(function):
    return set(LEGACY) <= set(inspect.signature(getattr(F, function)).parameters)


def _spec(function):
    spec = REGISTRY.get(function)
    if spec is None:
        pytest.skip("not in the registry yet")
    return spec


@functools.cache
def _case_and_call(function):
    """The first float64 all-defaults case whose unreduced loss has at least two finite
    elements, so that 'none', 'mean' and 'sum' all differ."""
    spec = _spec(function)
    for case in generate(spec, ("float64",)):
        if case.options or case.values != "normal":
            continue
        call = spec.sample(case.rng(), case)
        positional, keywords = call.split()
        unreduced = quiet(getattr(reference, function), *positional, **{**keywords, "reduction": "none"})
        if unreduced.size >= 2 and np.isfinite(unreduced).all() and len(np.unique(unreduced)) > 1:
            return case, call
    pytest.fail(f"no all-defaults case of {function} has two finite, different unreduced elements")


def _with(call, **arguments):
    """A copy of ``call`` with ``arguments`` set (new ones as keywords)."""
    return type(call)({**call.args, **arguments}, call.positional)


def _expected(function, call, reduction):
    positional, keywords = _with(call, reduction=reduction).split()
    return quiet(getattr(reference, function), *positional, **keywords)


def _assert_close(out, expected, what):
    result = compare(to_numpy(out), expected, "float64")
    assert result.ok, f"{what}: {result.message}"


def _messages(record, prefix):
    return [w for w in record if str(w.message).startswith(prefix)]


def _module_spec(function):
    return next(m for m in MODULES if m.function == function)


def test_which_functions_have_legacy_arguments():
    have = {f for f in FUNCTIONS if has_legacy(f)}
    assert set(FUNCTIONS) - have == WITHOUT_LEGACY
    for module_spec in MODULES:  # each module takes the pair exactly when its functional does
        constructor = inspect.signature(module_spec.cls.__init__).parameters
        assert (set(LEGACY) <= set(constructor)) == has_legacy(module_spec.function), module_spec.module


def test_documented_mapping():
    assert [documented_reduction(s, r) for s, r in COMBINATIONS] == [
        "mean", "mean", "none", "mean", "mean", "none", "sum", "sum", "none"]


LEGACY_PARAMS = [pytest.param(f, s, r, id=f"{f}(size_average={s}, reduce={r})")
                 for f in FUNCTIONS if has_legacy(f) for s, r in COMBINATIONS]


def _explicit(size_average, reduce):
    """An explicit reduction the legacy pair must override (or, both None, must be kept)."""
    if size_average is None and reduce is None:
        return "sum"
    return "none" if documented_reduction(size_average, reduce) != "none" else "sum"


def _check_legacy_warnings(record, size_average, reduce, mapped, where):
    legacy = _messages(record, "size_average and reduce args")
    if size_average is None and reduce is None:
        assert not legacy, f"{where} warned without legacy arguments: {str(legacy[0].message)!r}"
        return
    assert legacy, f"{where} did not warn about size_average/reduce"
    for w in legacy:
        assert w.category is UserWarning, f"{where}: {w.category.__name__}, but should be UserWarning"
        assert str(w.message) == LEGACY_WARNING.format(mapped), f"{where}: {str(w.message)!r}"


@pytest.mark.parametrize("function, size_average, reduce", LEGACY_PARAMS)
def test_legacy_functional(function, size_average, reduce):
    _, call = _case_and_call(function)
    explicit = _explicit(size_average, reduce)
    mapped = explicit if size_average is None and reduce is None else documented_reduction(size_average, reduce)
    args, kwargs, _ = convert_call(_with(call, reduction=explicit), "float64", "cpu")
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        out = getattr(F, function)(*args, **kwargs, size_average=size_average, reduce=reduce)
    _check_legacy_warnings(record, size_average, reduce, mapped, f"F.{function}")
    _assert_close(out, _expected(function, call, mapped),
                  f"F.{function}(size_average={size_average}, reduce={reduce}, reduction={explicit!r}) "
                  f"should compute reduction={mapped!r}")


@pytest.mark.parametrize("function, size_average, reduce", LEGACY_PARAMS)
def test_legacy_module(function, size_average, reduce):
    _, call = _case_and_call(function)
    module_spec = _module_spec(function)
    explicit = _explicit(size_average, reduce)
    mapped = explicit if size_average is None and reduce is None else documented_reduction(size_average, reduce)
    constructor, forward, _ = split(module_spec, _with(call, reduction=explicit), "float64", "cpu")
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        module = module_spec.cls(**constructor, size_average=size_average, reduce=reduce)
    _check_legacy_warnings(record, size_average, reduce, mapped, f"nn.{module_spec.module}")
    assert module.reduction == mapped
    _assert_close(quiet(module, *forward), _expected(function, call, mapped),
                  f"nn.{module_spec.module}(size_average={size_average}, reduce={reduce}, reduction={explicit!r})")


ALIAS_PARAMS = [pytest.param(f, id=f) for f in FUNCTIONS]


@pytest.mark.parametrize("function", ALIAS_PARAMS)
def test_elementwise_mean(function):
    """Where torch accepts the alias it warns and computes 'mean'; the functions that check
    ``reduction`` themselves reject it (an inconsistency of torch's, pinned here)."""
    _, call = _case_and_call(function)
    module_spec = _module_spec(function)
    alias = _with(call, reduction="elementwise_mean")
    args, kwargs, _ = convert_call(alias, "float64", "cpu")
    constructor, forward, _ = split(module_spec, alias, "float64", "cpu")
    module = quiet(module_spec.cls, **constructor)
    if function in REJECT_ELEMENTWISE_MEAN:
        with pytest.raises(ValueError, match="elementwise_mean"):
            quiet(getattr(F, function), *args, **kwargs)
        with pytest.raises(ValueError, match="elementwise_mean"):
            quiet(module, *forward)
        return
    expected = _expected(function, call, "mean")
    for what, run in ((f"F.{function}", lambda: getattr(F, function)(*args, **kwargs)),
                      (f"nn.{module_spec.module}", lambda: module(*forward))):
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            out = run()
        alias_warnings = _messages(record, "reduction='elementwise_mean'")
        assert alias_warnings, f"{what}(reduction='elementwise_mean') did not warn"
        assert all(w.category is UserWarning and str(w.message) == ELEMENTWISE_MEAN_WARNING
                   for w in alias_warnings), [str(w.message) for w in alias_warnings]
        _assert_close(out, expected, f"{what}(reduction='elementwise_mean') should compute 'mean'")


# -- softmax's implicit dim -------------------------------------------------------------

SOFTMAX_SHAPES = ((), (4,), (2, 3), (2, 3, 4), (2, 3, 2, 2))


@pytest.mark.parametrize("shape", SOFTMAX_SHAPES, ids=repr)
@pytest.mark.parametrize("function", ("softmax", "log_softmax"))
def test_implicit_softmax_dim(function, shape):
    _spec(function)
    x = np.random.default_rng(len(shape)).standard_normal(shape)
    message = (f"Implicit dimension choice for {function} has been deprecated. "
               "Change the call to include dim=X as an argument.")
    module = {"softmax": torch.nn.Softmax, "log_softmax": torch.nn.LogSoftmax}[function]()
    outcomes = {}
    for what, run in ((f"F.{function}", lambda: getattr(F, function)(torch.from_numpy(x))),
                      (f"nn.{module.__class__.__name__}", lambda: module(torch.from_numpy(x))),
                      (f"reference.{function}", lambda: getattr(reference, function)(x))):
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            outcomes[what] = run()
        implicit = _messages(record, "Implicit dimension choice")
        assert implicit, f"{what} without dim did not warn"
        assert all(w.category is UserWarning and str(w.message) == message for w in implicit), \
            [str(w.message) for w in implicit]
    expected = outcomes.pop(f"reference.{function}")
    for what, out in outcomes.items():
        _assert_close(out, expected, f"{what} without dim")


# -- kl_div's 'mean' --------------------------------------------------------------------


@pytest.mark.parametrize("reduction", ("mean", "batchmean", "sum", "none"))
def test_kl_div_mean_warning(reduction):
    _, call = _case_and_call("kl_div")
    with_reduction = _with(call, reduction=reduction)
    positional, keywords = with_reduction.split()
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        expected = reference.kl_div(*positional, **keywords)
    reference_warnings = [str(w.message) for w in _messages(record, "reduction: 'mean'")]
    if reduction == "mean" and not reference_warnings:
        pytest.skip("the reference does not warn for reduction='mean'")
    args, kwargs, _ = convert_call(with_reduction, "float64", "cpu")
    constructor, forward, _ = split(_module_spec("kl_div"), with_reduction, "float64", "cpu")
    module = torch.nn.KLDivLoss(**constructor)
    for what, run in (("F.kl_div", lambda: F.kl_div(*args, **kwargs)), ("nn.KLDivLoss", lambda: module(*forward))):
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            out = run()
        torch_warnings = [str(w.message) for w in _messages(record, "reduction: 'mean'")]
        assert torch_warnings == reference_warnings, (
            f"{what}: warned {torch_warnings}, the reference {reference_warnings}")
        _assert_close(out, expected, f"{what}(reduction={reduction!r})")


def test_kl_div_legacy_mean_does_not_warn_about_mean():
    """The legacy pair picks the elementwise mean without the 'mean' warning (it only warns
    about the pair itself)."""
    _, call = _case_and_call("kl_div")
    args, kwargs, _ = convert_call(call, "float64", "cpu")
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        out = F.kl_div(*args, **{**kwargs, "reduction": "sum"}, size_average=True)
    assert not _messages(record, "reduction: 'mean'")
    _assert_close(out, _expected("kl_div", call, "mean"), "F.kl_div(size_average=True)")
