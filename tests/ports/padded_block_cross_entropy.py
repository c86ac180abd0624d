"""A planted size fault: cross_entropy whose log-sum-exp runs over blocks of 1024 classes and pads
the last partial block with zeros instead of -inf, so each padded slot adds exp(0 - max) to the
normalizer. A row of at most 1024 classes is one block without padding and is torch's own function
(the default grid has at most 5 classes); 1025, 2049, 4099 and 32001 classes pad their last block,
so the "block" and "vocabulary" size regimes fail, forward and backward."""

import torch
import torch.nn.functional as F

BLOCK = 1024
INHERITS_TORCH_DIVERGENCES = True  # torch's own functions elsewhere


def _log_softmax(x):
    pad = -x.shape[1] % BLOCK
    blocks = F.pad(x, (0, pad), value=0.0).reshape(x.shape[0], -1, BLOCK)  # the fault: 0, not -inf
    top = blocks.amax(dim=(1, 2), keepdim=True).detach()
    return x - (top + torch.log(torch.exp(blocks - top).sum(dim=(1, 2), keepdim=True))).reshape(-1, 1)


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
                  reduction="mean", label_smoothing=0.0):
    if input.dim() != 2 or input.shape[1] <= BLOCK or size_average is not None or reduce is not None:
        return F.cross_entropy(input, target, weight, size_average, ignore_index, reduce, reduction, label_smoothing)
    classes = input.shape[1]
    log_probs = _log_softmax(input.float()).to(input.dtype)
    w = torch.ones(classes, dtype=input.dtype) if weight is None else weight
    if target.is_floating_point():  # class probabilities, smoothed
        q = target * (1 - label_smoothing) + label_smoothing / classes
        losses = -(q * w * log_probs).sum(1)
        return {"none": losses, "sum": losses.sum(), "mean": losses.sum() / input.shape[0]}[reduction]
    kept = target != ignore_index
    index = torch.where(kept, target, torch.zeros_like(target))
    picked = -log_probs.gather(1, index[:, None])[:, 0] * w[index] * kept
    smooth = -(log_probs * w).sum(1) * kept / classes
    losses = (1 - label_smoothing) * picked + label_smoothing * smooth
    if reduction == "none":
        return losses
    if reduction == "sum":
        return losses.sum()
    return losses.sum() / (w[index] * kept).sum()


def __getattr__(name):  # everything else is torch's
    return getattr(F, name)
