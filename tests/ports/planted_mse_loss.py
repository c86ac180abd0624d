"""A port of mse_loss with one planted fault: ``"mean"`` divides by the batch size, not by the
number of elements. ``.ci/run`` runs the installed suite against it: it must fail, naming mse_loss."""

import torch.nn.functional as F


def mse_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    if reduction != "mean" or weight is not None or input.dim() < 2:
        return F.mse_loss(input, target, size_average, reduce, reduction, weight=weight)
    return F.mse_loss(input, target, reduction="sum") / input.shape[0]
