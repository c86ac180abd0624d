"""A planted size fault: softmax and log_softmax whose normalizer is summed by a 16-lane vector
loop that forgets the scalar tail. A row shorter than one vector takes the scalar loop and is exact
(every row of the default grid has at most 5 elements); a row of 17 or 33 elements leaves its last 1
out of the sum, so the "vector" size regime fails, forward and backward. Rows of exactly 16, 32,
... elements have no tail and are exact too."""

import torch
import torch.nn.functional as F

LANES = 16
INHERITS_TORCH_DIVERGENCES = True  # torch's own functions elsewhere


def _log_normalizer(x, dim):
    n = x.shape[dim]
    top = x.amax(dim, keepdim=True).detach()
    top = torch.where(torch.isfinite(top), top, torch.zeros_like(top))
    main = x.narrow(dim, 0, n // LANES * LANES)  # the fault: the n % LANES tail is never added
    return top + torch.log(torch.exp(main - top).sum(dim, keepdim=True))


def _port(torch_function, input, dim, dtype, log):
    if dtype is not None:
        input = input.to(dtype)
    axis = (0 if input.dim() in (0, 1, 3) else 1) if dim is None else dim  # torch's legacy implicit dim
    if input.dim() == 0 or input.numel() == 0 or input.shape[axis] < LANES:
        return torch_function(input, dim)  # the scalar loop: torch's own function
    compute = input.float() if input.dtype in (torch.float16, torch.bfloat16) else input
    out = compute - _log_normalizer(compute, axis)
    return (out if log else out.exp()).to(input.dtype)


def log_softmax(input, dim=None, _stacklevel=3, dtype=None):
    return _port(F.log_softmax, input, dim, dtype, log=True)


def softmax(input, dim=None, _stacklevel=3, dtype=None):
    return _port(F.softmax, input, dim, dtype, log=False)


def __getattr__(name):  # everything else is torch's
    return getattr(F, name)
