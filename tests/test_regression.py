"""The regression family's reference against loop transcriptions, finite differences, its
doctests, torch's size warning, and planted faults the conformance suite must catch."""

import doctest
import inspect
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import reference
import reference.regression
from tests.oracles import assert_gradients_match
from tests.planted import failures, faulty_target

REDUCTIONS = ("none", "mean", "sum")


def accepts_weight(function):
    """As conformance/specs/regression.py decides it: whether the installed torch takes ``weight``."""
    return "weight" in inspect.signature(getattr(F, function)).parameters
# (input shape, target shape): equal, trailing broadcast, and an (N, 1) input enlarged to (N, N).
PAIRS = (((5,), (5,)), ((3, 4), (3, 4)), ((2, 3, 4), (3, 4)), ((3, 1), (3,)))


def _elementwise(kind, d, threshold):
    """The documented pointwise loss of one difference ``d``."""
    a = abs(d)
    if kind == "mse":
        return d * d
    if kind == "l1":
        return a
    if kind == "smooth_l1":
        if threshold == 0:
            return a
        return 0.5 * d * d / threshold if a < threshold else a - 0.5 * threshold
    return 0.5 * d * d if a < threshold else threshold * (a - 0.5 * threshold)  # huber


def loop_loss(kind, x, t, reduction, threshold=None, weight=None, mean_by_weights=False):
    """Broadcast by explicit index arithmetic, then reduce element by element."""
    shape = np.broadcast_shapes(x.shape, t.shape)
    out = np.zeros(shape)
    weights = np.zeros(shape)
    for index in np.ndindex(shape):
        xi = tuple(0 if n == 1 else i for i, n in zip(index[len(shape) - x.ndim:], x.shape, strict=True))
        ti = tuple(0 if n == 1 else i for i, n in zip(index[len(shape) - t.ndim:], t.shape, strict=True))
        w = 1.0 if weight is None else weight[xi]
        out[index] = w * _elementwise(kind, x[xi] - t[ti], threshold)
        weights[index] = w
    if reduction == "none":
        return out
    total = sum(out[index] for index in np.ndindex(shape))
    if reduction == "sum":
        return total
    if weight is not None and mean_by_weights:
        return total / sum(weight[i] for i in np.ndindex(weight.shape))  # the weight itself, not broadcast
    return total / out.size


CASES = [("mse", None), ("l1", None), ("smooth_l1", 1.0), ("smooth_l1", 0.5), ("smooth_l1", 0.0),
         ("huber", 1.0), ("huber", 0.5)]
# (kind, threshold, weighted): smooth_l1_loss takes no weight
VARIANTS = [(k, th, False) for k, th in CASES] + [(k, th, True) for k, th in CASES if k != "smooth_l1"]


def _call(kind, threshold, **args):
    if kind == "smooth_l1":
        return reference.smooth_l1_loss(**args, beta=threshold)
    if kind == "huber":
        return reference.huber_loss(**args, delta=threshold)
    return getattr(reference, f"{kind}_loss")(**args)


@pytest.mark.parametrize("kind, threshold, weighted", VARIANTS)
@pytest.mark.parametrize("shapes", PAIRS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_matches_loop(kind, threshold, weighted, shapes, reduction):
    rng = np.random.default_rng(11)
    x, t = rng.standard_normal(shapes[0]) * 2, rng.standard_normal(shapes[1]) * 2
    w = rng.uniform(0.5, 2, shapes[0]) if weighted else None
    args = {"input": x, "target": t, "reduction": reduction}
    if weighted:
        args["weight"] = w
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = _call(kind, threshold, **args)
    expected = loop_loss(kind, x, t, reduction, threshold, w, mean_by_weights=kind in ("mse", "l1"))
    np.testing.assert_allclose(got, expected, rtol=1e-13)


def test_huber_is_delta_times_smooth_l1():
    rng = np.random.default_rng(12)
    x, t = rng.standard_normal(20) * 2, rng.standard_normal(20)
    np.testing.assert_allclose(reference.huber_loss(x, t, "none", delta=0.5),
                               0.5 * reference.smooth_l1_loss(x, t, "none", beta=0.5), rtol=1e-15)


@pytest.mark.parametrize("kind, threshold, weighted", VARIANTS)
@pytest.mark.parametrize("shapes", PAIRS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_gradients(kind, threshold, weighted, shapes, reduction):
    rng = np.random.default_rng(13)
    # differences of magnitude 0.1 .. 3 with random sign, away from 0 and from beta / delta
    x = rng.standard_normal(shapes[0])
    t = rng.standard_normal(shapes[1])
    args = {"input": x, "target": t, "reduction": reduction}
    d = np.broadcast_arrays(x, t)
    d = d[0] - d[1]
    if np.any(np.abs(d) < 1e-3) or (threshold and np.any(np.abs(np.abs(d) - threshold) < 1e-3)):
        pytest.skip("a random difference fell next to a kink")
    names = ("input", "target")
    if weighted:
        args["weight"] = rng.uniform(0.5, 2, shapes[0])
        names += ("weight",)
    backward = getattr(reference, f"{kind}_loss_backward")
    forward = getattr(reference, f"{kind}_loss")
    if threshold is not None:
        key = "beta" if kind == "smooth_l1" else "delta"
        args[key] = threshold
    out_shape = np.broadcast_shapes(shapes[0], shapes[1])
    grad_output = rng.standard_normal(out_shape) if reduction == "none" else np.float64(rng.standard_normal())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert_gradients_match(backward, forward, args, grad_output, names)


def test_gradients_at_kinks_are_torchs():
    d = np.array([0.0, 0.5, -0.5, np.nan])
    zeros = np.zeros(4)
    one = np.float64(1.0)
    assert reference.l1_loss_backward(one, d, zeros, "sum")["input"].tolist() == [0.0, 1.0, -1.0, 0.0]
    assert reference.smooth_l1_loss_backward(one, d, zeros, "sum", beta=0.0)["input"].tolist() == [0, 1, -1, 0]
    g = reference.smooth_l1_loss_backward(one, d, zeros, "sum", beta=0.5)["input"]
    assert g[:3].tolist() == [0.0, 1.0, -1.0] and np.isnan(g[3])
    g = reference.huber_loss_backward(one, d, zeros, "sum", delta=0.5)["input"]
    assert g[:3].tolist() == [0.0, 0.5, -0.5] and np.isnan(g[3])


@pytest.mark.parametrize("name", ["mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss"])
def test_size_warning_like_torch(name):
    x, t = np.zeros((3, 1)), np.zeros(3)
    with pytest.warns(UserWarning, match="different to the input size"):
        expected = getattr(reference, name)(x, t, reduction="none")
    with pytest.warns(UserWarning, match="different to the input size"):
        got = getattr(F, name)(torch.zeros(3, 1), torch.zeros(3), reduction="none")
    assert expected.shape == tuple(got.shape) == (3, 3)


def test_doctests():
    assert doctest.testmod(reference.regression).failed == 0


def test_all_lists_every_public_function():
    module = reference.regression
    public = {n for n in dir(module) if not n.startswith("_") and callable(getattr(module, n))
              and getattr(module, n).__module__ == module.__name__}
    assert public == set(module.__all__)


# Planted faults: each is a plausible wrong port of one listed semantic.

def _reduce(loss, reduction):
    return {"none": loss, "sum": loss.sum(), "mean": loss.mean()}[reduction]


def _mse_mean_over_numel(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    loss = (input - target) ** 2
    return _reduce(loss if weight is None else loss * weight, reduction)  # mean ignores sum(weight)


def _mse_target_expanded_to_input(input, target, size_average=None, reduce=None, reduction="mean"):
    return _reduce((input - target.expand_as(input)) ** 2, reduction)  # (3, 1) vs (3,) must give (3, 3)


def _l1_gradient_one_at_zero(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    d = input - target
    loss = torch.where(d >= 0, d, -d)  # gradient +1 at d = 0, where torch's is 0
    if weight is None:
        return _reduce(loss, reduction)
    return (loss * weight).sum() / weight.sum() if reduction == "mean" else _reduce(loss * weight, reduction)


def _smooth_l1_huber_scaled(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0):
    return F.huber_loss(input, target, reduction=reduction, delta=beta if beta > 0 else 1.0)


def _huber_weighted_mean_by_weights(input, target, reduction="mean", delta=1.0, weight=None):
    loss = F.huber_loss(input, target, reduction="none", delta=delta)
    if weight is None:
        return F.huber_loss(input, target, reduction=reduction, delta=delta)
    loss = loss * weight
    return loss.sum() / weight.sum() if reduction == "mean" else _reduce(loss, reduction)


def _huber_unscaled(input, target, reduction="mean", delta=1.0, weight=None):
    loss = F.smooth_l1_loss(input, target, reduction="none", beta=delta)  # missing the factor delta
    return _reduce(loss if weight is None else loss * weight, reduction)


PLANTED = [
    ("mse_loss", _mse_mean_over_numel if accepts_weight("mse_loss") else _mse_target_expanded_to_input,
     ("forward",)),
    ("l1_loss", _l1_gradient_one_at_zero, ("backward",)),
    ("smooth_l1_loss", _smooth_l1_huber_scaled, ("forward",)),
    ("huber_loss", _huber_weighted_mean_by_weights if accepts_weight("huber_loss") else _huber_unscaled, ("forward",)),
    ("huber_loss", _huber_unscaled, ("forward",)),
]


@pytest.mark.parametrize("function, wrong, checks", PLANTED, ids=[f"{f}-{w.__name__}" for f, w, _ in PLANTED])
def test_planted_fault_is_caught(function, wrong, checks):
    assert failures(faulty_target(**{function: wrong}), function, checks), f"a wrong {function} passed"
