"""Planted faults in softmax, log_softmax, nll_loss and cross_entropy must fail the suite.

Each fault is a plausible porting bug; ``failures`` runs the function's float64 cases
against torch.nn.functional with the faulty port patched in.
"""

import torch
import torch.nn.functional as F

from tests.planted import failures, faulty_target


def _assert_caught(function, checks=("forward",), **replacement):
    failed = failures(faulty_target(**replacement), function, checks)
    assert failed, f"planted fault in {function} was not caught"
    return failed


def test_softmax_over_the_wrong_dimension():
    def softmax(input, dim=None, _stacklevel=3, dtype=None):
        return F.softmax(input, 0 if input.dim() > 1 and dim not in (0, -input.dim()) else dim, dtype=dtype)

    _assert_caught("softmax", softmax=softmax)


def test_log_softmax_without_max_subtraction_overflows():
    def log_softmax(input, dim=None, _stacklevel=3, dtype=None):
        x = input if dtype is None else input.to(dtype)
        return x - torch.log(torch.sum(torch.exp(x), dim=dim, keepdim=True))

    failed = _assert_caught("log_softmax", log_softmax=log_softmax)
    assert any("values=extreme" in case for case, _ in failed)


def test_nll_loss_treating_ignored_targets_as_class_0():
    def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean"):
        target = torch.where(target == ignore_index, torch.zeros_like(target), target)
        return F.nll_loss(input, target, weight, ignore_index=-12345, reduction=reduction)

    _assert_caught("nll_loss", nll_loss=nll_loss)


def test_nll_loss_mean_dividing_by_the_count_not_the_weights():
    def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean"):
        if reduction != "mean":
            return F.nll_loss(input, target, weight, ignore_index=ignore_index, reduction=reduction)
        losses = F.nll_loss(input, target, weight, ignore_index=ignore_index, reduction="none")
        return losses.sum() / (target != ignore_index).sum()

    failed = _assert_caught("nll_loss", nll_loss=nll_loss)
    assert any("weight=<positive>" in case for case, _ in failed)


def test_cross_entropy_all_ignored_mean_giving_zero():
    def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
                      reduction="mean", label_smoothing=0.0):
        out = F.cross_entropy(input, target, weight, ignore_index=ignore_index, reduction=reduction,
                              label_smoothing=label_smoothing)
        return torch.nan_to_num(out, nan=0.0) if reduction == "mean" else out

    _assert_caught("cross_entropy", cross_entropy=cross_entropy)


def test_cross_entropy_smoothing_over_the_other_classes():
    # A common misreading: eps / (C - 1) on the non-target classes instead of eps / C on all.
    def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
                      reduction="mean", label_smoothing=0.0):
        c = input.shape[0 if input.dim() == 1 else 1]
        eps = label_smoothing * c / max(c - 1, 1)
        return F.cross_entropy(input, target, weight, ignore_index=ignore_index, reduction=reduction,
                               label_smoothing=min(eps, 1.0))

    _assert_caught("cross_entropy", cross_entropy=cross_entropy)


def test_cross_entropy_probability_mean_dividing_by_weights():
    def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
                      reduction="mean", label_smoothing=0.0):
        out = F.cross_entropy(input, target, weight, ignore_index=ignore_index, reduction=reduction,
                              label_smoothing=label_smoothing)
        if input.shape == target.shape and weight is not None and reduction == "mean":
            out = out * input.numel() / input.shape[0 if input.dim() == 1 else 1] / weight.sum()
        return out

    _assert_caught("cross_entropy", cross_entropy=cross_entropy)


def test_cross_entropy_gradient_not_scaled_by_grad_output():
    class CE(torch.autograd.Function):
        @staticmethod
        def forward(ctx, input, target):
            ctx.save_for_backward(input, target)
            return F.cross_entropy(input, target, reduction="sum")

        @staticmethod
        def backward(ctx, grad):
            input, target = ctx.saved_tensors
            with torch.enable_grad():
                x = input.detach().requires_grad_()
                (g,) = torch.autograd.grad(F.cross_entropy(x, target, reduction="sum"), x)
            return g, None  # forgets grad

    def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
                      reduction="mean", label_smoothing=0.0):
        if reduction == "sum" and weight is None and label_smoothing == 0 and input.shape != target.shape:
            return CE.apply(input, target)
        return F.cross_entropy(input, target, weight, ignore_index=ignore_index, reduction=reduction,
                               label_smoothing=label_smoothing)

    _assert_caught("cross_entropy", ("backward",), cross_entropy=cross_entropy)


def test_cross_entropy_accepting_label_smoothing_above_one():
    def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
                      reduction="mean", label_smoothing=0.0):
        return F.cross_entropy(input, target, weight, ignore_index=ignore_index, reduction=reduction,
                               label_smoothing=min(label_smoothing, 1.0))

    failed = _assert_caught("cross_entropy", ("error",), cross_entropy=cross_entropy)
    assert any("label_smoothing=1.5" in case for case, _ in failed)
