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
    if n < LANES:  # the scalar loop
        return torch.logsumexp(x, dim, keepdim=True)
    top = x.amax(dim, keepdim=True).detach()
    top = torch.where(torch.isfinite(top), top, torch.zeros_like(top))
    main = x.narrow(dim, 0, n // LANES * LANES)  # the fault: the n % LANES tail is never added
    return top + torch.log(torch.exp(main - top).sum(dim, keepdim=True))


def _normalized(input, dim, dtype):
    if dtype is not None:
        input = input.to(dtype)
    if dim is None:
        dim = 0 if input.dim() in (0, 1, 3) else 1  # torch's legacy implicit dim
    if input.dim() == 0 or input.numel() == 0:
        return None, input, dim
    compute = input.float() if input.dtype in (torch.float16, torch.bfloat16) else input
    return compute - _log_normalizer(compute, dim), input, dim


def log_softmax(input, dim=None, _stacklevel=3, dtype=None):
    out, input, dim = _normalized(input, dim, dtype)
    return F.log_softmax(input, dim) if out is None else out.to(input.dtype)


def softmax(input, dim=None, _stacklevel=3, dtype=None):
    out, input, dim = _normalized(input, dim, dtype)
    return F.softmax(input, dim) if out is None else out.exp().to(input.dtype)


def __getattr__(name):  # everything else is torch's
    return getattr(F, name)
