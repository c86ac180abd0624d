"""A planted size fault: nll_loss and cross_entropy that keep class indices as int16 (a compact
gather) and wrap a negative index Python-style: past 32767 classes the last class, 32800, reads
class 32800 - 65536 + 32801 = 65 instead. Exact while every class fits in int16 (the default grid has
at most 5 classes), wrong in the "wide index" size regime, forward and backward."""

import torch
import torch.nn.functional as F

INHERITS_TORCH_DIVERGENCES = True  # torch's own functions elsewhere


def _narrow(target, classes):
    if target.is_floating_point() or classes <= 32767:
        return target
    wrapped = target.to(torch.int16).to(torch.int64)  # the fault: 32800 becomes -32736
    return torch.where(wrapped < -1, wrapped % classes, wrapped).to(target.dtype)


def _classes(input):
    return input.shape[1] if input.dim() >= 2 else (input.shape[0] if input.dim() else 1)


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean"):
    return F.nll_loss(input, _narrow(target, _classes(input)), weight, size_average, ignore_index, reduce, reduction)


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
                  reduction="mean", label_smoothing=0.0):
    return F.cross_entropy(input, _narrow(target, _classes(input)), weight, size_average, ignore_index, reduce,
                           reduction, label_smoothing)


def __getattr__(name):  # everything else is torch's
    return getattr(F, name)
