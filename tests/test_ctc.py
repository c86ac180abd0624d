"""The ctc_loss reference: a brute-force oracle over every alignment, finite differences,
doctests and planted faults."""

import doctest
import itertools

import numpy as np
import pytest
import torch

import reference
import reference.ctc
from tests.oracles import central_difference
from tests.planted import failures, faulty_target


def _collapse(path, blank):
    out, previous = [], None
    for c in path:
        if c != previous and c != blank:
            out.append(c)
        previous = c
    return out


def _brute_force(x, target, length, blank):
    """-log of the total probability of every class sequence of ``length`` frames that
    collapses to ``target``: enumerates all C**length paths, independent of alpha/beta."""
    total = 0.0
    for path in itertools.product(range(x.shape[1]), repeat=length):
        if _collapse(path, blank) == list(target):
            total += np.exp(sum(x[t, c] for t, c in enumerate(path)))
    return np.inf if total == 0 else -np.log(total)


def _random_problem(rng, unbatched=False):
    n_frames, n, n_classes = int(rng.integers(1, 6)), int(rng.integers(1, 4)), int(rng.integers(2, 4))
    blank = int(rng.integers(0, n_classes))
    labels = [c for c in range(n_classes) if c != blank]
    tl = rng.integers(0, 4, size=n)
    il = rng.integers(0, n_frames + 1, size=n)
    targets = rng.choice(labels, size=(n, max(int(tl.max()), 1)))
    x = rng.standard_normal((n_frames, n, n_classes))
    return x, targets, il, tl, blank


@pytest.mark.parametrize("seed", range(40))
def test_ctc_loss_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    x, targets, il, tl, blank = _random_problem(rng)
    expected = np.array([_brute_force(x[:, i], targets[i, :tl[i]], il[i], blank) for i in range(len(il))])
    np.testing.assert_allclose(reference.ctc_loss(x, targets, il, tl, blank=blank, reduction="none"), expected,
                               rtol=1e-12)
    finite = np.where(np.isinf(expected), 0.0, expected)
    np.testing.assert_allclose(reference.ctc_loss(x, targets, il, tl, blank=blank, zero_infinity=True),
                               np.mean(finite / np.maximum(tl, 1)), rtol=1e-12)
    np.testing.assert_allclose(reference.ctc_loss(x, targets, il, tl, blank=blank, reduction="sum"),
                               np.sum(expected), rtol=1e-12)
    concatenated = np.concatenate([targets[i, :tl[i]] for i in range(len(tl))])
    np.testing.assert_array_equal(reference.ctc_loss(x, concatenated, tuple(il), tuple(tl), blank=blank,
                                                     reduction="none"),
                                  reference.ctc_loss(x, targets, il, tl, blank=blank, reduction="none"))


def test_repeats_need_a_blank_and_unbatched():
    x = np.log(np.full((3, 3), 1 / 3))
    assert reference.ctc_loss(x, np.array([1, 1]), np.array(2), np.array(2), reduction="none") == np.inf
    np.testing.assert_allclose(reference.ctc_loss(x, np.array([1, 1]), (3,), (2,), reduction="none"),
                               _brute_force(x, [1, 1], 3, 0), rtol=1e-12)


@pytest.mark.parametrize("seed, reduction", list(itertools.product(range(6), ("none", "sum", "mean"))))
def test_ctc_loss_backward_matches_finite_differences(seed, reduction):
    rng = np.random.default_rng(100 + seed)
    x, targets, il, tl, blank = _random_problem(rng)
    il = np.maximum(il, 2 * tl + 1)  # finite losses only: an inf loss has no derivative
    x = x[:max(il.max(), x.shape[0])] if il.max() <= x.shape[0] else np.concatenate(
        [x, rng.standard_normal((il.max() - x.shape[0],) + x.shape[1:])])
    args = {"log_probs": x, "targets": targets, "input_lengths": il, "target_lengths": tl, "blank": blank,
            "reduction": reduction}
    grad_output = rng.standard_normal(len(il)) if reduction == "none" else np.float64(0.8)
    numeric = central_difference(reference.ctc_loss, args, "log_probs", grad_output)
    true = reference.ctc_loss_backward(grad_output, **args, convention="true")["log_probs"]
    np.testing.assert_allclose(true, numeric, rtol=1e-6, atol=1e-8)
    # torch's convention adds g_n * exp(x) in every frame the sample uses
    g = {"none": grad_output, "sum": np.full(len(il), 0.8), "mean": 0.8 / len(il) / np.maximum(tl, 1)}[reduction]
    used = np.arange(x.shape[0])[:, None] < il[None, :]
    torch_style = reference.ctc_loss_backward(grad_output, **args)["log_probs"]
    np.testing.assert_allclose(torch_style, true + np.where(used, g, 0.0)[..., None] * np.exp(x), rtol=1e-12,
                               atol=1e-15)


def test_zero_infinity_zeroes_the_gradient():
    x = np.log(np.full((2, 1, 3), 1 / 3))
    g = reference.ctc_loss_backward(np.float64(1.0), x, np.array([[1, 1]]), (2,), (2,), zero_infinity=True)
    assert not g["log_probs"].any()
    g = reference.ctc_loss_backward(np.float64(1.0), x, np.array([[1, 1]]), (2,), (2,))
    assert np.isnan(g["log_probs"]).all()


def test_errors():
    x = np.zeros((4, 2, 3))
    t, il, tl = np.array([[1, 2], [2, 1]]), np.array([4, 4]), np.array([2, 2])
    for kwargs in ({"blank": 3}, {"input_lengths": np.array([5, 4])}, {"target_lengths": np.array([-1, 2])},
                   {"targets": np.array([1, 2, 2])}, {"log_probs": np.zeros((0, 2, 3))}):
        call = {"log_probs": x, "targets": t, "input_lengths": il, "target_lengths": tl, **kwargs}
        with pytest.raises(RuntimeError):
            reference.ctc_loss(**call)
    with pytest.raises(TypeError):
        reference.ctc_loss(x[:, 0], t[0], 4, 2)


def test_doctests():
    assert doctest.testmod(reference.ctc).failed == 0


def _mean_without_length(log_probs, targets, input_lengths, target_lengths, blank=0, reduction="mean",
                         zero_infinity=False):
    losses = torch.nn.functional.ctc_loss(log_probs, targets, input_lengths, target_lengths, blank, "none",
                                          zero_infinity)
    return losses.mean() if reduction == "mean" else torch.nn.functional.ctc_loss(
        log_probs, targets, input_lengths, target_lengths, blank, reduction, zero_infinity)


def _true_gradient(log_probs, targets, input_lengths, target_lengths, blank=0, reduction="mean",
                   zero_infinity=False):
    """A port whose gradient is the true one: torch's minus exp(x) in every used frame
    (exact for reduction='sum'; any difference from torch must fail the suite)."""
    out = torch.nn.functional.ctc_loss(log_probs, targets, input_lengths, target_lengths, blank, reduction,
                                       zero_infinity)
    lengths = torch.as_tensor(input_lengths).reshape(1, -1)
    used = torch.arange(log_probs.shape[0]).reshape(-1, 1) < lengths
    e = torch.where(used.reshape(used.shape + (1,) * (log_probs.dim() - 2)), log_probs.exp(), 0.0)
    return out - (e - e.detach()).sum()


@pytest.mark.parametrize("fault, check", [(_mean_without_length, "forward"), (_true_gradient, "backward")])
def test_planted_faults_fail(fault, check):
    assert failures(faulty_target(ctc_loss=fault), "ctc_loss", checks=(check,))
