"""The probabilistic references (kl_div, poisson_nll_loss, gaussian_nll_loss) against
loop transcriptions of their documented formulas and against finite differences, their
doctests, and planted faults the conformance suite must catch."""

import doctest
import itertools
import math
import warnings
import zlib

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import reference.probabilistic
from reference import (
    gaussian_nll_loss,
    gaussian_nll_loss_backward,
    kl_div,
    kl_div_backward,
    poisson_nll_loss,
    poisson_nll_loss_backward,
)
from tests.oracles import assert_gradients_match
from tests.planted import failures, faulty_target

# (input shape, target shape): equal, the target broadcast over rows, the target widening
# the result, 0-D, and a size-1 middle dimension.
SHAPE_PAIRS = [((3, 4), (3, 4)), ((3, 4), (4,)), ((4,), (2, 4)), ((), ()), ((2, 3, 2), (2, 1, 2))]


def _quietly(fn):
    def call(*args, **kwargs):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # kl_div's "mean" warning, checked on its own below
            return fn(*args, **kwargs)
    return call


def _at(a, index):
    """``a`` at the broadcast result's ``index``: right-aligned, size-1 dimensions pinned to 0."""
    a = np.asarray(a)
    tail = index[len(index) - a.ndim:] if a.ndim else ()
    return float(a[tuple(0 if n == 1 else i for i, n in zip(tail, a.shape, strict=True))])


def _loop_reduce(values, shape, reduction, denominator=None):
    if reduction == "none":
        return np.array(values, dtype=np.float64).reshape(shape)
    total = math.fsum(values)
    if reduction == "sum":
        return total
    n = len(values) if denominator is None else denominator
    return total / n if n else math.nan


def _out_shape(*shapes):
    return np.broadcast_shapes(*shapes)


# Loop transcriptions -------------------------------------------------------------------

def loop_kl_div(input, target, reduction, log_target):
    shape = _out_shape(np.shape(input), np.shape(target))
    values = []
    for index in itertools.product(*map(range, shape)):
        x, t = _at(input, index), _at(target, index)
        if log_target:
            values.append(math.exp(t) * (t - x))
        else:
            values.append((0.0 if t == 0 else t * math.log(t)) - t * x)
    denominator = None
    if reduction == "batchmean":
        denominator = np.shape(input)[0] if np.ndim(input) else 1
        reduction = "mean"
    return _loop_reduce(values, shape, reduction, denominator)


def loop_poisson_nll_loss(input, target, log_input, full, eps, reduction):
    shape = _out_shape(np.shape(input), np.shape(target))
    values = []
    for index in itertools.product(*map(range, shape)):
        x, t = _at(input, index), _at(target, index)
        loss = math.exp(x) - t * x if log_input else x - t * math.log(x + eps)
        if full and t > 1:
            loss += t * math.log(t) - t + 0.5 * math.log(2 * math.pi * t)
        values.append(loss)
    return _loop_reduce(values, shape, reduction)


def loop_gaussian_nll_loss(input, target, var, full, eps, reduction):
    if not isinstance(var, float) and np.ndim(var) == np.ndim(input) - 1:
        var = np.asarray(var)[..., None]  # homoscedastic: one variance per row
    shape = _out_shape(np.shape(input), np.shape(target), np.shape(var))
    values = []
    for index in itertools.product(*map(range, shape)):
        x, t = _at(input, index), _at(target, index)
        v = max(var if isinstance(var, float) else _at(var, index), eps)
        values.append(0.5 * (math.log(v) + (x - t) ** 2 / v) + (0.5 * math.log(2 * math.pi) if full else 0.0))
    return _loop_reduce(values, shape, reduction)


def _rng(*key):
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


@pytest.mark.parametrize("shapes", SHAPE_PAIRS, ids=str)
@pytest.mark.parametrize("log_target", [False, True])
@pytest.mark.parametrize("reduction", ["none", "batchmean", "sum", "mean"])
def test_kl_div_matches_loop(shapes, log_target, reduction):
    rng = _rng("kl", shapes, log_target, reduction)
    x = rng.normal(0.0, 2.0, shapes[0])
    p = np.where(rng.random(shapes[1]) < 0.25, 0.0, rng.uniform(0.05, 1.0, shapes[1]))
    t = np.log(np.maximum(p, 0.01)) if log_target else p
    np.testing.assert_allclose(_quietly(kl_div)(x, t, reduction, log_target),
                               loop_kl_div(x, t, reduction, log_target), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shapes", SHAPE_PAIRS, ids=str)
@pytest.mark.parametrize("log_input", [True, False])
@pytest.mark.parametrize("full", [False, True])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_poisson_nll_loss_matches_loop(shapes, log_input, full, reduction):
    rng = _rng("poisson", shapes, log_input, full, reduction)
    x = rng.normal(0.0, 1.0, shapes[0]) if log_input else rng.uniform(0.0, 3.0, shapes[0])
    t = np.where(rng.random(shapes[1]) < 0.5, rng.poisson(1.5, shapes[1]), rng.uniform(0, 4, shapes[1]))
    for eps in (1e-8, 0.5):
        np.testing.assert_allclose(poisson_nll_loss(x, t, log_input, full, eps, reduction),
                                   loop_poisson_nll_loss(x, t, log_input, full, eps, reduction),
                                   rtol=1e-12, atol=1e-12)


# (input shape, var): the input's shape, the last size 1, one fewer dimension, another size 1, a float
VAR_SHAPES = [((3, 4), (3, 4)), ((3, 4), (3, 1)), ((3, 4), (3,)), ((2, 3, 4), (1, 3, 4)), ((4,), ()),
              ((), ()), ((3, 4), None)]


@pytest.mark.parametrize("shapes", VAR_SHAPES, ids=str)
@pytest.mark.parametrize("full", [False, True])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("eps", [1e-6, 0.5])
def test_gaussian_nll_loss_matches_loop(shapes, full, reduction, eps):
    rng = _rng("gaussian", shapes, full, reduction, eps)
    x, t = rng.normal(0, 2, shapes[0]), rng.normal(0, 2, shapes[0])
    if shapes[1] is None:
        var = 0.3
    else:
        var = np.where(rng.random(shapes[1]) < 0.3, 0.0, rng.uniform(0.05, 2.0, shapes[1]))
    np.testing.assert_allclose(gaussian_nll_loss(x, t, var, full, eps, reduction),
                               loop_gaussian_nll_loss(x, t, var, full, eps, reduction), rtol=1e-12, atol=1e-12)


def test_gaussian_nll_loss_broadcast_target_matches_loop():
    rng = _rng("gaussian target")
    x, t, var = rng.normal(size=(3, 4)), rng.normal(size=(2, 3, 4)), rng.uniform(0.1, 2.0, (3, 1))
    np.testing.assert_allclose(gaussian_nll_loss(x, t, var, reduction="none"),
                               loop_gaussian_nll_loss(x, t, var, False, 1e-6, "none"), rtol=1e-12)


# Finite differences ----------------------------------------------------------------------

def _grad_output(rng, out):
    return rng.normal(size=np.shape(out))


@pytest.mark.parametrize("shapes", SHAPE_PAIRS, ids=str)
@pytest.mark.parametrize("log_target", [False, True])
@pytest.mark.parametrize("reduction", ["none", "batchmean", "sum", "mean"])
def test_kl_div_backward_matches_finite_differences(shapes, log_target, reduction):
    rng = _rng("kl fd", shapes, log_target, reduction)
    x = rng.normal(0.0, 2.0, shapes[0])
    t = rng.normal(-1.0, 0.5, shapes[1]) if log_target else rng.uniform(0.1, 1.0, shapes[1])
    args = {"input": x, "target": t, "reduction": reduction, "log_target": log_target}
    forward = _quietly(kl_div)
    assert_gradients_match(kl_div_backward, forward, args, _grad_output(rng, forward(**args)), ("input", "target"))


@pytest.mark.parametrize("shapes", SHAPE_PAIRS, ids=str)
@pytest.mark.parametrize("log_input", [True, False])
@pytest.mark.parametrize("full", [False, True])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_poisson_nll_loss_backward_matches_finite_differences(shapes, log_input, full, reduction):
    rng = _rng("poisson fd", shapes, log_input, full, reduction)
    x = rng.normal(0.0, 1.0, shapes[0]) if log_input else rng.uniform(0.5, 3.0, shapes[0])
    # away from t = 1, where the Stirling term jumps
    t = np.where(rng.random(shapes[1]) < 0.5, rng.uniform(0.1, 0.8, shapes[1]), rng.uniform(1.3, 4.0, shapes[1]))
    args = {"input": x, "target": t, "log_input": log_input, "full": full, "eps": 1e-8, "reduction": reduction}
    assert_gradients_match(poisson_nll_loss_backward, poisson_nll_loss, args,
                           _grad_output(rng, poisson_nll_loss(**args)), ("input", "target"))


@pytest.mark.parametrize("shapes", VAR_SHAPES, ids=str)
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_gaussian_nll_loss_backward_matches_finite_differences(shapes, reduction):
    rng = _rng("gaussian fd", shapes, reduction)
    x, t = rng.normal(0, 2, shapes[0]), rng.normal(0, 2, shapes[0])
    var = 0.3 if shapes[1] is None else rng.uniform(0.3, 2.0, shapes[1])  # above eps: away from the clamp
    args = {"input": x, "target": t, "var": var, "full": True, "eps": 1e-6, "reduction": reduction}
    names = ("input", "target") if shapes[1] is None else ("input", "target", "var")
    assert_gradients_match(gaussian_nll_loss_backward, gaussian_nll_loss, args,
                           _grad_output(rng, gaussian_nll_loss(**args)), names)


def test_gaussian_nll_loss_var_gradient_is_straight_through_below_eps():
    """Below eps the loss is flat in var, yet the gradient is the derivative at eps."""
    x, t, eps = np.array([1.0, 1.0]), np.array([0.0, 0.0]), 0.5
    below = gaussian_nll_loss_backward(np.ones(2), x, t, np.array([0.0, 0.2]), eps=eps, reduction="none")["var"]
    at_eps = gaussian_nll_loss_backward(np.ones(2), x, t, np.array([eps, eps]), eps=eps, reduction="none")["var"]
    np.testing.assert_array_equal(below, at_eps)
    np.testing.assert_allclose(at_eps, 0.5 * (1 / eps - 1 / eps**2))


def test_kl_div_target_gradient_is_nan_at_zero():
    g = kl_div_backward(np.ones(2), np.array([-1.0, -1.0]), np.array([0.0, 0.5]), reduction="none")
    assert np.isnan(g["target"][0]) and g["input"][0] == 0.0 and np.isfinite(g["target"][1])


# Semantics not visible to the harness ----------------------------------------------------

def test_kl_div_mean_warns_like_torch():
    x, t = np.log([[0.5, 0.5]]), np.array([[0.25, 0.75]])
    with pytest.warns(UserWarning, match="'batchmean' divides only by the batch size") as record:
        kl_div(x, t)
    with pytest.warns(UserWarning) as torch_record:
        F.kl_div(torch.tensor(x), torch.tensor(t))
    assert str(record[0].message) == str(torch_record[0].message)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for reduction in ("batchmean", "sum", "none"):
            kl_div(x, t, reduction=reduction)


def test_kl_div_batchmean_of_0d_input_is_the_sum():
    assert float(kl_div(np.array(-1.0), np.array(0.5), reduction="batchmean")) == pytest.approx(
        0.5 * (math.log(0.5) + 1.0), rel=1e-12)  # the float64 budget: log's last bit depends on the host


def test_kl_div_batchmean_divides_by_the_input_rows_not_the_result_rows():
    x, t = np.zeros(3), np.full((2, 3), 0.5)  # result (2, 3); input.shape[0] == 3
    assert float(kl_div(x, t, reduction="batchmean")) == pytest.approx(6 * 0.5 * math.log(0.5) / 3)


def test_poisson_stirling_term_starts_above_one():
    t = np.array([1.0, np.nextafter(1.0, 2.0)])
    losses = poisson_nll_loss(np.zeros(2), t, full=True, reduction="none")
    assert losses[0] == 1.0 - 0.0  # exp(0) - 1 * 0, no Stirling term at t == 1
    assert losses[1] - losses[0] == pytest.approx(-1 + 0.5 * math.log(2 * math.pi), rel=1e-9)


def test_gaussian_nll_loss_accepts_a_python_int_var():
    """torch raises TypeError here (a known divergence); the documented "scalar value" includes ints."""
    x, t = np.array([1.0, 2.0]), np.array([0.0, 0.0])
    assert gaussian_nll_loss(x, t, 2) == gaussian_nll_loss(x, t, 2.0)
    assert set(gaussian_nll_loss_backward(np.float64(1.0), x, t, 2)) == {"input", "target"}


def test_doctests():
    result = doctest.testmod(reference.probabilistic)
    assert result.attempted > 0 and result.failed == 0


def test_all_lists_every_public_function():
    public = {n for n in dir(reference.probabilistic) if not n.startswith("_") and callable(
        getattr(reference.probabilistic, n)) and getattr(reference.probabilistic, n).__module__ ==
        "reference.probabilistic"}
    assert public == set(reference.probabilistic.__all__)


# Planted faults ----------------------------------------------------------------------------

def kl_div_batchmean_over_numel(input, target, size_average=None, reduce=None, reduction="mean",
                                log_target=False):
    if reduction == "batchmean":
        return F.kl_div(input, target, reduction="sum", log_target=log_target) / max(
            torch.broadcast_shapes(input.shape, target.shape).numel(), 1)
    return F.kl_div(input, target, reduction=reduction, log_target=log_target)


def kl_div_without_xlogy(input, target, size_average=None, reduce=None, reduction="mean", log_target=False):
    if log_target:
        return F.kl_div(input, target, reduction=reduction, log_target=True)
    losses = target * (target.log() - input)  # the documented "roughly equivalent" code: NaN at t == 0
    return {"none": losses, "sum": losses.sum(), "mean": losses.mean(),
            "batchmean": losses.sum() / (input.shape[0] if input.dim() else 1)}[reduction]


def poisson_eps_with_log_input(input, target, log_input=True, full=False, size_average=None, eps=1e-8,
                               reduce=None, reduction="mean"):
    if log_input:
        input = input + eps
    return F.poisson_nll_loss(input, target, log_input, full, eps=eps, reduction=reduction)


def poisson_stirling_from_one(input, target, log_input=True, full=False, size_average=None, eps=1e-8,
                              reduce=None, reduction="mean"):
    losses = F.poisson_nll_loss(input, target, log_input, False, eps=eps, reduction="none")
    if full:
        stirling = target * target.log() - target + 0.5 * (2 * math.pi * target).log()
        losses = losses + stirling.masked_fill(target < 1, 0)
    return {"none": losses, "sum": losses.sum(), "mean": losses.mean()}[reduction]


def gaussian_var_plus_eps(input, target, var, full=False, eps=1e-6, reduction="mean"):
    return F.gaussian_nll_loss(input, target, var + eps, full=full, eps=0.0, reduction=reduction)


def gaussian_true_clamp_gradient(input, target, var, full=False, eps=1e-6, reduction="mean"):
    if isinstance(var, torch.Tensor):
        var = torch.clamp(var, min=eps)  # differentiable: zero gradient below eps
    return F.gaussian_nll_loss(input, target, var, full=full, eps=eps, reduction=reduction)


@pytest.mark.parametrize("function, fault, checks", [
    ("kl_div", kl_div_batchmean_over_numel, ("forward",)),
    ("kl_div", kl_div_without_xlogy, ("forward",)),
    ("poisson_nll_loss", poisson_eps_with_log_input, ("forward",)),
    ("poisson_nll_loss", poisson_stirling_from_one, ("forward",)),
    ("gaussian_nll_loss", gaussian_var_plus_eps, ("forward",)),
    ("gaussian_nll_loss", gaussian_true_clamp_gradient, ("backward",)),
], ids=lambda v: v.__name__ if callable(v) else "-".join(v) if isinstance(v, tuple) else v)
def test_planted_fault_is_caught(function, fault, checks):
    failed = failures(faulty_target(**{function: fault}), function, checks=checks)
    assert failed, f"the suite did not catch {fault.__name__}"
