"""A planted size fault: nll_loss and cross_entropy over K-dimensional inputs (N, C, d1, ...) whose
loop over the spatial positions runs in blocks of 1024 and forgets the last partial block: the
positions past the last full block are treated as ignored. Up to 1024 positions per sample (the
default grid has at most 8) it is torch's own function; a spatial size of 1025 drops one position
per sample, so the "spatial" size regime fails, forward and backward."""

import torch.nn.functional as F

BLOCK = 1024
INHERITS_TORCH_DIVERGENCES = True  # torch's own functions elsewhere


def _dropped(target, ignore_index):
    positions = target[0].numel() if target.dim() >= 2 and target.shape[0] else 0
    if positions <= BLOCK or target.is_floating_point():
        return target
    flat = target.reshape(target.shape[0], -1).clone()
    flat[:, positions // BLOCK * BLOCK:] = ignore_index  # the fault: the partial block is never visited
    return flat.reshape(target.shape)


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean"):
    return F.nll_loss(input, _dropped(target, ignore_index), weight, size_average, ignore_index, reduce, reduction)


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
                  reduction="mean", label_smoothing=0.0):
    return F.cross_entropy(input, _dropped(target, ignore_index), weight, size_average, ignore_index, reduce,
                           reduction, label_smoothing)


def __getattr__(name):  # everything else is torch's
    return getattr(F, name)
