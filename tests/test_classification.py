"""Oracles for softmax, log_softmax, nll_loss and cross_entropy in ``reference/``.

* golden values users know (hand-checkable worked examples);
* the vectorized references against slow loop transcriptions of the documented formulas;
* every ``*_backward`` against central finite differences in float64.
"""

import math
import warnings

import numpy as np
import pytest

import reference as ref
from conformance.cases import generate
from conformance.registry import REGISTRY
from tests.oracles import assert_gradients_match

# --- golden values ---------------------------------------------------------------------


def test_golden_cross_entropy_arange():
    x = np.arange(1.0, 13.0).reshape(3, 4)
    t = np.array([1, 2, 3])
    assert ref.cross_entropy(x, t) == pytest.approx(1.440190, abs=1e-6)
    np.testing.assert_allclose(ref.cross_entropy(x, t, reduction="none"), [2.440190, 1.440190, 0.440190], atol=1e-6)
    assert ref.cross_entropy(x, t, reduction="sum") == pytest.approx(4.320569, abs=1e-6)


def test_golden_cross_entropy_weight_and_ignore():
    x = np.array([[1.0, 2.0, 3.0], [1.0, 2.0, 0.5]])
    assert ref.cross_entropy(x, np.array([2, 1])) == pytest.approx(0.435987, abs=1e-6)
    assert ref.cross_entropy(x, np.array([2, 1]), weight=np.array([1.0, 2.0, 0.5])) == pytest.approx(0.453016, abs=1e-6)
    assert ref.cross_entropy(x, np.array([2, -100])) == pytest.approx(0.407606, abs=1e-6)


def test_golden_softmax():
    np.testing.assert_allclose(ref.softmax(np.array([1.0, 1.0, 2.0, 2.0]), dim=0),
                               [0.134471, 0.134471, 0.365529, 0.365529], atol=1e-6)


def test_all_ignored_mean_is_nan_and_gradient_zero():
    x = np.zeros((2, 3))
    t = np.array([-100, -100])
    assert math.isnan(ref.nll_loss(x, t))
    assert ref.nll_loss(x, t, reduction="sum") == 0.0
    assert np.all(ref.cross_entropy_backward(np.float64(1.0), x, t)["input"] == 0.0)


def test_empty_batch_reductions():
    x, t = np.zeros((0, 3)), np.zeros(0, dtype=np.int64)
    assert math.isnan(ref.cross_entropy(x, t))
    assert ref.cross_entropy(x, t, reduction="sum") == 0.0
    assert ref.cross_entropy(x, t, reduction="none").shape == (0,)


def test_label_smoothing_by_hand():
    # C = 2, logits equal: p = log(1/2) for both classes; smoothing changes nothing then.
    x = np.zeros((1, 2))
    assert ref.cross_entropy(x, np.array([0]), label_smoothing=0.3) == pytest.approx(math.log(2))
    # logits [0, log 3]: q = [1/4, 3/4]; eps = 0.5 -> 0.5 * -log(1/4) + 0.25 * (-log(1/4) - log(3/4))
    x = np.array([[0.0, math.log(3.0)]])
    expected = 0.5 * math.log(4) + 0.25 * (math.log(4) + math.log(4 / 3))
    assert ref.cross_entropy(x, np.array([0]), label_smoothing=0.5) == pytest.approx(expected)


def test_implicit_softmax_dim_warns_and_follows_torch_rule():
    x = np.arange(24.0).reshape(2, 3, 4)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = ref.softmax(x)
    assert any("Implicit dimension choice" in str(w.message) for w in caught)
    np.testing.assert_allclose(out, ref.softmax(x, dim=0))  # 3-D -> dim 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        np.testing.assert_allclose(ref.softmax(x[0]), ref.softmax(x[0], dim=1))  # 2-D -> dim 1


# --- loop transcriptions of the documented formulas --------------------------------------


def loop_log_softmax(x, dim):
    out = np.empty_like(x)
    moved, result = np.moveaxis(x, dim, -1), np.moveaxis(out, dim, -1)
    for index in np.ndindex(moved.shape[:-1]):
        row = [float(v) for v in moved[index]]
        m = max(row)
        total = sum(math.exp(v - m) for v in row)
        for c, v in enumerate(row):
            result[index + (c,)] = v - m - math.log(total)
    return out


def _reduce(values, weights_or_count, reduction):
    if reduction == "none":
        return values
    total = float(np.sum(values))
    if reduction == "sum":
        return total
    return total / weights_or_count if weights_or_count else math.nan


def loop_nll_loss(input, target, weight=None, ignore_index=-100, reduction="mean"):
    if input.ndim == 1:
        input, target = input[None], np.asarray(target).reshape(1)
        unbatched = True
    else:
        unbatched = False
    n_classes = input.shape[1]
    losses = np.zeros(target.shape)
    total_weight = 0.0
    for index in np.ndindex(target.shape):
        y = int(target[index])
        if y == ignore_index:
            continue
        w = 1.0 if weight is None else float(weight[y])
        losses[index] = -w * input[(index[0], y) + index[1:]]
        total_weight += w
    assert n_classes >= 0
    if unbatched and reduction == "none":
        return losses[0]
    return _reduce(losses, total_weight, reduction)


def loop_cross_entropy(input, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    dim = 0 if input.ndim == 1 else 1
    logp = loop_log_softmax(input, dim)
    n_classes = input.shape[dim]
    w = np.ones(n_classes) if weight is None else weight
    eps = label_smoothing
    if input.shape == np.shape(target):  # probabilities
        lp, t = np.moveaxis(logp, dim, -1), np.moveaxis(target, dim, -1)
        losses = np.zeros(lp.shape[:-1])
        for index in np.ndindex(losses.shape):
            losses[index] = -sum(w[c] * ((1 - eps) * t[index + (c,)] + eps / n_classes) * lp[index + (c,)]
                                 for c in range(n_classes))
        return _reduce(losses, losses.size, reduction)
    lp = np.moveaxis(logp if input.ndim > 1 else logp[None], 1, -1)
    t = np.asarray(target).reshape(lp.shape[:-1])
    losses = np.zeros(t.shape)
    total_weight = 0.0
    for index in np.ndindex(t.shape):
        y = int(t[index])
        if y == ignore_index:
            continue
        nll = -w[y] * lp[index + (y,)]
        smooth = -sum(w[c] * lp[index + (c,)] for c in range(n_classes))
        losses[index] = (1 - eps) * nll + eps / n_classes * smooth
        total_weight += w[y]
    if input.ndim == 1 and reduction == "none":
        return losses.reshape(())
    return _reduce(losses, total_weight, reduction)


def _float64_cases(function):
    return [c for c in generate(REGISTRY[function], dtypes=("float64",)) if c.values == "normal"]


def _args(case):
    return dict(case.spec.sample(case.rng(), case).args)


@pytest.mark.parametrize("case", _float64_cases("nll_loss"), ids=str)
def test_nll_loss_matches_loop(case):
    args = _args(case)
    np.testing.assert_allclose(ref.nll_loss(**args), loop_nll_loss(**args), rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("case", _float64_cases("cross_entropy"), ids=str)
def test_cross_entropy_matches_loop(case):
    args = _args(case)
    np.testing.assert_allclose(ref.cross_entropy(**args), loop_cross_entropy(**args), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("function", ["softmax", "log_softmax"])
@pytest.mark.parametrize("shape, dim", [((5,), 0), ((3, 4), 1), ((3, 4), 0), ((2, 3, 4), -1), ((2, 3, 4), 1)])
def test_softmax_matches_loop(function, shape, dim):
    x = np.random.default_rng(0).standard_normal(shape) * 3
    expected = loop_log_softmax(x, dim)
    if function == "softmax":
        expected = np.exp(expected)
    np.testing.assert_allclose(getattr(ref, function)(x, dim), expected, rtol=1e-13, atol=1e-15)


# --- hand-derived gradients against finite differences ----------------------------------


def _differentiable(case, args):
    return [n for n in case.spec.differentiable
            if isinstance(args.get(n), np.ndarray) and np.issubdtype(args[n].dtype, np.floating)]


def _gradient_cases(function):
    # Finite differences need a finite loss; a few hundred cases cover every option combination.
    cases = []
    for case in _float64_cases(function):
        args = _args(case)
        if 0 in case.shape or not np.all(np.isfinite(getattr(ref, function)(**args))):
            continue
        cases.append(case)
    return cases


@pytest.mark.parametrize("function", ["nll_loss", "cross_entropy"])
def test_backward_matches_finite_differences(function):
    forward, backward = getattr(ref, function), getattr(ref, function + "_backward")
    cases = _gradient_cases(function)
    assert len(cases) > 100
    for case in cases:
        args = _args(case)
        out = forward(**args)
        grad_output = np.random.default_rng(case.seed).standard_normal(np.shape(out))
        assert_gradients_match(backward, forward, args, grad_output, _differentiable(case, args))


@pytest.mark.parametrize("function", ["softmax", "log_softmax"])
@pytest.mark.parametrize("shape, dim", [((), 0), ((5,), 0), ((3, 4), 1), ((2, 3, 4), 0)])
def test_softmax_backward_matches_finite_differences(function, shape, dim):
    rng = np.random.default_rng(1)
    args = {"input": rng.standard_normal(shape), "dim": dim}
    assert_gradients_match(getattr(ref, function + "_backward"), getattr(ref, function), args,
                           rng.standard_normal(shape), ["input"])
