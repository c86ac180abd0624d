"""The binary family's reference against loop transcriptions, finite differences, its
doctests, and planted faults the conformance suite must catch."""

import doctest
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import reference
import reference.binary
from tests.oracles import assert_gradients_match
from tests.planted import failures, faulty_target

REDUCTIONS = ("none", "mean", "sum")
SHAPES = ((5,), (3, 4), (2, 3, 4))


def _reduce_loop(values, shape, reduction):
    if reduction == "none":
        out = np.zeros(shape)
        for index in np.ndindex(shape):
            out[index] = values[index]
        return out
    total = 0.0
    for index in np.ndindex(shape):
        total += values[index]
    count = int(np.prod(shape))
    return total if reduction == "sum" else total / count


def _log1pexp(z):
    """log(1 + e^z) for one float, by cases."""
    return z + math.log1p(math.exp(-z)) if z > 0 else math.log1p(math.exp(z))


def bce_loop(p, y, w, reduction):
    values = {}
    for i in np.ndindex(p.shape):
        log_p = max(math.log(p[i]), -100.0) if p[i] > 0 else -100.0
        log_q = max(math.log(1 - p[i]), -100.0) if p[i] < 1 else -100.0
        values[i] = -w[i] * (y[i] * log_p + (1 - y[i]) * log_q)
    return _reduce_loop(values, p.shape, reduction)


def bce_logits_loop(x, y, w, pw, reduction):
    values = {}
    for i in np.ndindex(x.shape):
        sig = 1 / (1 + math.exp(-x[i]))
        values[i] = -w[i] * (pw[i] * y[i] * math.log(sig) + (1 - y[i]) * math.log(1 - sig))
    return _reduce_loop(values, x.shape, reduction)


def soft_margin_loop(x, y, reduction):
    values = {i: _log1pexp(-y[i] * x[i]) for i in np.ndindex(x.shape)}
    return _reduce_loop(values, x.shape, reduction)


def multilabel_loop(x, y, w, reduction):
    samples, n_classes = x.shape[:-1], x.shape[-1]
    values = {}
    for n in np.ndindex(samples):
        total = 0.0
        for c in range(n_classes):
            sig = 1 / (1 + math.exp(-x[n + (c,)]))
            total += -w[c] * (y[n + (c,)] * math.log(sig) + (1 - y[n + (c,)]) * math.log(1 - sig))
        values[n] = total / n_classes
    return _reduce_loop(values, samples, reduction)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_binary_cross_entropy_matches_loop(shape, reduction, weighted):
    rng = np.random.default_rng(1)
    p = rng.uniform(0, 1, shape)
    p.flat[:2] = (0.0, 1.0)  # the clamped log terms
    y = rng.uniform(0, 1, shape)
    w = rng.uniform(0.5, 2, shape[-1:])
    got = reference.binary_cross_entropy(p, y, w if weighted else None, reduction)
    expected = bce_loop(p, y, np.broadcast_to(w if weighted else 1.0, shape), reduction)
    np.testing.assert_allclose(got, expected, rtol=1e-13)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("pos_weighted", [False, True])
def test_binary_cross_entropy_with_logits_matches_loop(shape, reduction, weighted, pos_weighted):
    rng = np.random.default_rng(2)
    x = rng.standard_normal(shape) * 3
    y = rng.uniform(0, 1, shape)
    w, pw = rng.uniform(0.5, 2, shape), rng.uniform(0.5, 2, shape[-1:])
    got = reference.binary_cross_entropy_with_logits(x, y, w if weighted else None, reduction,
                                                     pw if pos_weighted else None)
    expected = bce_logits_loop(x, y, w if weighted else np.ones(shape),
                               np.broadcast_to(pw if pos_weighted else 1.0, shape), reduction)
    np.testing.assert_allclose(got, expected, rtol=1e-12)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_soft_margin_loss_matches_loop(shape, reduction):
    rng = np.random.default_rng(3)
    x = rng.standard_normal(shape) * 3
    x.flat[0] = 800.0  # past float64's exp overflow: the reference must stay exact
    y = rng.choice([-1.0, 1.0], shape)
    np.testing.assert_allclose(reference.soft_margin_loss(x, y, reduction), soft_margin_loop(x, y, reduction),
                               rtol=1e-13)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_multilabel_soft_margin_loss_matches_loop(shape, reduction, weighted):
    rng = np.random.default_rng(4)
    x = rng.standard_normal(shape) * 3
    y = rng.integers(0, 2, shape).astype(np.float64)
    w = rng.uniform(0.5, 2, shape[-1])
    got = reference.multilabel_soft_margin_loss(x, y, w if weighted else None, reduction)
    expected = multilabel_loop(x, y, w if weighted else np.ones(shape[-1]), reduction)
    np.testing.assert_allclose(got, expected, rtol=1e-13)


def _grad_output(rng, shape, reduction):
    return rng.standard_normal(shape) if reduction == "none" else np.float64(rng.standard_normal())


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_binary_cross_entropy_gradients(reduction, weighted):
    rng = np.random.default_rng(5)
    shape = (3, 4)
    args = {"input": rng.uniform(0.05, 0.95, shape), "target": rng.uniform(0.05, 0.95, shape),
            "weight": rng.uniform(0.5, 2, (4,)) if weighted else None, "reduction": reduction}
    assert_gradients_match(reference.binary_cross_entropy_backward, reference.binary_cross_entropy, args,
                           _grad_output(rng, shape, reduction), ("input", "target"))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("pos_weighted", [False, True])
def test_binary_cross_entropy_with_logits_gradients(reduction, pos_weighted):
    rng = np.random.default_rng(6)
    shape = (3, 4)
    args = {"input": rng.standard_normal(shape) * 3, "target": rng.uniform(0, 1, shape),
            "weight": rng.uniform(0.5, 2, shape), "reduction": reduction,
            "pos_weight": rng.uniform(0.5, 2, (4,)) if pos_weighted else None}
    assert_gradients_match(reference.binary_cross_entropy_with_logits_backward,
                           reference.binary_cross_entropy_with_logits, args,
                           _grad_output(rng, shape, reduction), ("input", "target"))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_soft_margin_loss_gradients(reduction):
    rng = np.random.default_rng(7)
    shape = (3, 4)
    args = {"input": rng.standard_normal(shape) * 3, "target": rng.choice([-1.0, 1.0], shape),
            "reduction": reduction}
    assert_gradients_match(reference.soft_margin_loss_backward, reference.soft_margin_loss, args,
                           _grad_output(rng, shape, reduction), ("input",))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(4,), (2, 3, 4)])
def test_multilabel_soft_margin_loss_gradients(reduction, shape):
    rng = np.random.default_rng(8)
    args = {"input": rng.standard_normal(shape) * 3, "target": rng.uniform(0, 1, shape),
            "weight": rng.uniform(0.5, 2, (4,)), "reduction": reduction}
    assert_gradients_match(reference.multilabel_soft_margin_loss_backward, reference.multilabel_soft_margin_loss,
                           args, _grad_output(rng, shape[:-1], reduction), ("input", "target", "weight"))


def test_doctests():
    assert doctest.testmod(reference.binary).failed == 0


def test_all_lists_every_public_function():
    public = {n for n in dir(reference.binary) if not n.startswith("_") and callable(getattr(reference.binary, n))
              and getattr(reference.binary, n).__module__ == "reference.binary"}
    assert public == set(reference.binary.__all__)


# Planted faults: each is a plausible wrong port of one listed semantic.

def _bce_without_clamp(input, target, weight=None, size_average=None, reduce=None, reduction="mean"):
    losses = -(target * torch.log(input) + (1 - target) * torch.log1p(-input))
    losses = losses if weight is None else losses * weight
    return {"none": losses, "sum": losses.sum(), "mean": losses.mean()}[reduction]


def _bce_logits_pos_weight_on_both(input, target, weight=None, size_average=None, reduce=None, reduction="mean",
                                   pos_weight=None):
    loss = F.binary_cross_entropy_with_logits(input, target, weight, reduction="none")
    if pos_weight is not None:
        loss = loss * pos_weight  # scales the negative term too
    return {"none": loss, "sum": loss.sum(), "mean": loss.mean()}[reduction]


def _soft_margin_wrong_sign(input, target, size_average=None, reduce=None, reduction="mean"):
    loss = F.softplus(target * input)
    return {"none": loss, "sum": loss.sum(), "mean": loss.mean()}[reduction]


def _multilabel_classes_on_dim_1(input, target, weight=None, size_average=None, reduce=None, reduction="mean"):
    loss = -(target * F.logsigmoid(input) + (1 - target) * F.logsigmoid(-input))
    if weight is not None:
        loss = loss * weight
    loss = loss.mean(dim=min(1, input.dim() - 1))  # classes on dim 1, as for cross_entropy
    return {"none": loss, "sum": loss.sum(), "mean": loss.mean()}[reduction]


@pytest.mark.parametrize("function, wrong, checks", [
    ("binary_cross_entropy", _bce_without_clamp, ("forward",)),
    ("binary_cross_entropy_with_logits", _bce_logits_pos_weight_on_both, ("forward",)),
    ("soft_margin_loss", _soft_margin_wrong_sign, ("forward",)),
    ("multilabel_soft_margin_loss", _multilabel_classes_on_dim_1, ("forward",)),
])
def test_planted_fault_is_caught(function, wrong, checks):
    assert failures(faulty_target(**{function: wrong}), function, checks), f"a wrong {function} passed"
