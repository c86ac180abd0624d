"""torch's mse_loss, a tenth of a second per call: a target that cannot finish its grid within a
short budget, for the matrix's budget test."""

import time

import torch.nn.functional as F


def mse_loss(input, target, *args, **kwargs):
    time.sleep(0.1)
    return F.mse_loss(input, target, *args, **kwargs)
