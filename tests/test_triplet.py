"""The triplet references: loop oracles, finite differences, doctests and planted faults."""

import doctest
import itertools

import numpy as np
import pytest
import torch

import reference
import reference.triplet
from conformance.registry import REGISTRY
from tests.oracles import assert_gradients_match
from tests.planted import failures, faulty_target

_, L1, COSINE = REGISTRY["triplet_margin_with_distance_loss"].options["distance_function"]
P_VALUES = (2, 1, 0.5, 3, np.inf)


def _loop_distance(u, v, p, eps):
    diffs = [u[i] - v[i] + eps for i in range(len(u))]
    if p == np.inf:
        return max(abs(d) for d in diffs)
    return sum(abs(d) ** p for d in diffs) ** (1.0 / p)


def _loop_triplet(a, p, n, margin, norm, eps, swap, reduction):
    """The documented formula with explicit loops over the (N, D) rows."""
    losses = []
    for i in range(a.shape[0]):
        d_ap = _loop_distance(a[i], p[i], norm, eps)
        d_an = _loop_distance(a[i], n[i], norm, eps)
        if swap:
            d_an = min(d_an, _loop_distance(p[i], n[i], norm, eps))
        losses.append(max(margin + d_ap - d_an, 0.0))
    return {"none": np.array(losses), "sum": sum(losses), "mean": sum(losses) / len(losses)}[reduction]


@pytest.mark.parametrize("norm, swap, reduction",
                         list(itertools.product(P_VALUES, (False, True), ("none", "sum", "mean"))))
def test_triplet_margin_loss_matches_loop(norm, swap, reduction):
    rng = np.random.default_rng(7)
    a, p, n = (rng.standard_normal((6, 4)) for _ in range(3))
    for margin, eps in ((1.0, 1e-6), (0.5, 0.1), (2.0, 0.0)):
        got = reference.triplet_margin_loss(a, p, n, margin=margin, p=norm, eps=eps, swap=swap, reduction=reduction)
        np.testing.assert_allclose(got, _loop_triplet(a, p, n, margin, norm, eps, swap, reduction), rtol=1e-12)


def test_eps_is_added_to_the_difference():
    x = np.zeros(4)
    assert float(reference.pairwise_distance(x, x, p=2, eps=0.5)) == 1.0  # ||(0.5,)*4|| = 1, not 0 + 0.5


def test_broadcast_and_unbatched():
    rng = np.random.default_rng(3)
    a, n = rng.standard_normal((5, 3)), rng.standard_normal((5, 3))
    p = rng.standard_normal((1, 3))
    np.testing.assert_allclose(reference.triplet_margin_loss(a, p, n, reduction="none"),
                               _loop_triplet(a, np.repeat(p, 5, 0), n, 1.0, 2, 1e-6, False, "none"), rtol=1e-12)
    assert reference.triplet_margin_loss(a[0], p[0], n[0], reduction="none").shape == ()


def test_distance_loss_default_equals_triplet_margin_loss():
    rng = np.random.default_rng(4)
    a, p, n = (rng.standard_normal((6, 4)) for _ in range(3))
    for swap in (False, True):
        np.testing.assert_array_equal(
            reference.triplet_margin_with_distance_loss(a, p, n, swap=swap, reduction="none"),
            reference.triplet_margin_loss(a, p, n, swap=swap, reduction="none"))


def test_distance_loss_with_custom_distance_matches_loop():
    rng = np.random.default_rng(5)
    a, p, n = (rng.standard_normal((6, 4)) for _ in range(3))
    got = reference.triplet_margin_with_distance_loss(a, p, n, distance_function=L1, margin=2.0, swap=True,
                                                      reduction="none")
    np.testing.assert_allclose(got, _loop_triplet(a, p, n, 2.0, 1, 0.0, True, "none"), rtol=1e-12)


def test_errors():
    x = np.zeros((2, 3))
    with pytest.raises(ValueError):
        reference.triplet_margin_loss(x, x, x, margin=0.0)
    with pytest.raises(RuntimeError):
        reference.triplet_margin_loss(x[0], x, x)
    with pytest.raises(TypeError):  # a plain function has no backward
        reference.triplet_margin_with_distance_loss_backward(np.float64(1.0), x, x, x,
                                                             distance_function=lambda u, v: abs(u - v).sum(-1))


@pytest.mark.parametrize("norm, swap", list(itertools.product(P_VALUES, (False, True))))
def test_triplet_margin_loss_backward_matches_finite_differences(norm, swap):
    rng = np.random.default_rng(11)
    args = {"anchor": rng.standard_normal((4, 3)), "positive": rng.standard_normal((1, 3)),
            "negative": rng.standard_normal((4, 3)), "margin": 3.0, "p": norm, "swap": swap, "reduction": "none"}
    grad_output = rng.standard_normal(4)
    assert_gradients_match(reference.triplet_margin_loss_backward, reference.triplet_margin_loss, args, grad_output,
                           ("anchor", "positive", "negative"))


@pytest.mark.parametrize("distance, swap", list(itertools.product((None, L1, COSINE), (False, True))))
def test_distance_loss_backward_matches_finite_differences(distance, swap):
    rng = np.random.default_rng(12)
    args = {"anchor": rng.standard_normal((4, 3)), "positive": rng.standard_normal((4, 3)),
            "negative": rng.standard_normal((1, 3)), "distance_function": distance, "margin": 3.0, "swap": swap,
            "reduction": "mean"}
    assert_gradients_match(reference.triplet_margin_with_distance_loss_backward,
                           reference.triplet_margin_with_distance_loss, args, np.float64(0.7),
                           ("anchor", "positive", "negative"))


def test_tie_conventions():
    a, p, n = np.zeros((1, 2)), np.zeros((1, 2)), np.array([[1.0, 0.0]])
    g = reference.triplet_margin_loss_backward(np.float64(1.0), a, p, n, eps=0.0, swap=True)
    assert g["anchor"].tolist() == [[0.5, 0.0]] and g["negative"].tolist() == [[-1.0, 0.0]]


def test_doctests():
    assert doctest.testmod(reference.triplet).failed == 0


def _wrong_eps(anchor, positive, negative, margin=1.0, p=2, eps=1e-6, swap=False, reduction="mean", **_):
    d = lambda x, y: torch.linalg.vector_norm(x - y, p, dim=-1) + eps  # noqa: E731 -- eps on the norm
    d_n = torch.minimum(d(anchor, negative), d(positive, negative)) if swap else d(anchor, negative)
    loss = torch.clamp_min(margin + d(anchor, positive) - d_n, 0)
    return {"mean": loss.mean(), "sum": loss.sum(), "none": loss}[reduction]


def _no_swap(anchor, positive, negative, margin=1.0, p=2, eps=1e-6, swap=False, reduction="mean", **_):
    return torch.nn.functional.triplet_margin_loss(anchor, positive, negative, margin, p, eps, False,
                                                   reduction=reduction)


def _no_margin(anchor, positive, negative, *, distance_function=None, margin=1.0, swap=False, reduction="mean"):
    return torch.nn.functional.triplet_margin_with_distance_loss(
        anchor, positive, negative, distance_function=distance_function, swap=swap, reduction=reduction)


@pytest.mark.parametrize("name, wrong", [("triplet_margin_loss", _wrong_eps), ("triplet_margin_loss", _no_swap),
                                         ("triplet_margin_with_distance_loss", _no_margin)])
def test_planted_faults_fail(name, wrong):
    assert failures(faulty_target(**{name: wrong}), name, checks=("forward",))
