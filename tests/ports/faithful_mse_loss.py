"""A faithful port of mse_loss: it delegates to torch, so torch's known divergences are its own
(torch's half-precision composite rounds grad_output / n before it scales each element: an accuracy
record). ``.ci/run`` runs the installed suite against it from an unrelated directory: it must pass."""

import torch.nn.functional as F

INHERITS_TORCH_DIVERGENCES = True


def mse_loss(input, target, *args, **kwargs):
    return F.mse_loss(input, target, *args, **kwargs)
