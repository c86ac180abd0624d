"""The mse_loss of the transform ports (planted_jvp, planted_gradgrad, planted_vmap): a
``torch.autograd.Function`` whose forward, backward, forward-mode rule and batching rule are each
written by hand, so that a port can plant a fault in exactly one of them. Right as it stands
(tests/test_transforms.py checks that it passes every kind of check)."""

import torch
import torch.nn.functional as F


def reduce(values, reduction):
    return values.mean() if reduction == "mean" else values.sum() if reduction == "sum" else values


def first_derivative(input, target, grad, reduction):
    """d mse / d input at ``grad`` (the target's is its negative), in float32 at least, as torch
    computes half precision; differentiable, so its own derivative (the double backward) comes
    from autograd."""
    scale = 2.0 / input.numel() if reduction == "mean" else 2.0
    wide = torch.promote_types(input.dtype, torch.float32)
    return (grad.to(wide) * scale * (input.to(wide) - target.to(wide))).to(input.dtype)


class MSE(torch.autograd.Function):
    generate_vmap_rule = True

    @staticmethod
    def forward(input, target, reduction):
        return reduce((input - target) ** 2, reduction)

    @staticmethod
    def setup_context(ctx, inputs, output):
        input, target, reduction = inputs
        ctx.reduction = reduction
        ctx.save_for_backward(input, target)
        ctx.save_for_forward(input, target)

    @staticmethod
    def backward(ctx, grad):
        input, target = ctx.saved_tensors
        derivative = first_derivative(input, target, grad, ctx.reduction)
        return derivative, -derivative, None

    @staticmethod
    def jvp(ctx, input_tangent, target_tangent, _):
        input, target = ctx.saved_tensors
        tangent = (0 if input_tangent is None else input_tangent) - (0 if target_tangent is None else target_tangent)
        return reduce(2 * (input - target) * tangent, ctx.reduction)


def mse_loss_with(function):
    """torch's mse_loss, through ``function`` (an autograd.Function like :class:`MSE`) for non-empty
    inputs of one shape, without weight, with a valid reduction; torch's own elsewhere."""

    def mse_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
        if (weight is not None or input.shape != target.shape or input.numel() == 0 or size_average is not None
                or reduce is not None or reduction not in ("mean", "sum", "none")):
            return F.mse_loss(input, target, size_average, reduce, reduction, weight=weight)
        return function.apply(input, target, reduction)

    return mse_loss


mse_loss = mse_loss_with(MSE)
