"""A faithful port of mse_loss: it delegates to torch, which has no known divergence there.
``.ci/run`` runs the installed suite against it from an unrelated directory: it must pass."""

import torch.nn.functional as F


def mse_loss(input, target, *args, **kwargs):
    return F.mse_loss(input, target, *args, **kwargs)
