"""Planted size faults of a chunked mean over chunks of 4096 elements, in mse_loss and
smooth_l1_loss (``reduction="mean"``, the default):

* forward (mse_loss): the number of chunks is rounded down, so the elements after the last full
  chunk are never summed (the divisor is still n);
* backward (smooth_l1_loss): the gradient is written chunk by chunk by a launch that rounds the
  number of chunks down, so the last partial chunk of the gradient stays zero.

Up to one chunk (every case of the default grid) both are torch's own functions; 4097, 65537 and
131075 elements have a partial last chunk, so the "chunk" size regime fails."""

import torch
import torch.nn.functional as F

CHUNK = 4096
INHERITS_TORCH_DIVERGENCES = True  # torch's own functions elsewhere


def _plain(input, target, reduction, kwargs):
    return (reduction == "mean" and input.numel() > CHUNK and input.shape == target.shape
            and all(kwargs.get(k) is None for k in ("weight", "size_average", "reduce")))


def mse_loss(input, target, size_average=None, reduce=None, reduction="mean", **kwargs):
    kwargs.update(size_average=size_average, reduce=reduce)
    if not _plain(input, target, reduction, kwargs):
        return F.mse_loss(input, target, reduction=reduction, **kwargs)
    losses = F.mse_loss(input, target, reduction="none").reshape(-1)
    full = losses.numel() // CHUNK * CHUNK  # the fault: floor, not ceil, chunks
    return (losses[:full].float().sum() / losses.numel()).to(input.dtype)


class _ChunkedGrad(torch.autograd.Function):
    """The identity forward; its backward drops the last partial chunk of the gradient."""

    @staticmethod
    def forward(ctx, x):
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        flat = grad.reshape(-1).clone()
        flat[flat.numel() // CHUNK * CHUNK:] = 0  # the fault: the partial chunk is never launched
        return flat.reshape(grad.shape)


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0, **kwargs):
    kwargs.update(size_average=size_average, reduce=reduce)
    if not _plain(input, target, reduction, kwargs):
        return F.smooth_l1_loss(input, target, reduction=reduction, beta=beta, **kwargs)
    return F.smooth_l1_loss(_ChunkedGrad.apply(input), target, reduction=reduction, beta=beta)


def __getattr__(name):  # everything else is torch's
    return getattr(F, name)
