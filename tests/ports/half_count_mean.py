"""A planted size fault: mse_loss and l1_loss computed by torch in float32 (float64 for float64)
and rounded once, as a fused kernel does, whose "mean" without a weight divides by the element count
held in the input's dtype, as a kernel that keeps its counter next to its data does. Where the count
is exact in the input's dtype (every count of the default grid, at most 120 elements) it is right;
257 is 256 in bfloat16, 2049 is 2048 in float16 and 65537 is inf there, so the "count" and "chunk"
size regimes fail: the backward by a scale error of one unit (each element within its budget, only
the scale-error check sees it), the float16 forward at 65537 outright. A port written from the spec:
it inherits none of torch's known divergences (it rounds once, where torch's half-precision
composites do not)."""

import torch
import torch.nn.functional as F


def _patched(name):
    torch_function = getattr(F, name)

    def port(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
        wide = torch.float64 if input.dtype == torch.float64 else torch.float32
        input, target, narrow = input.to(wide), target.to(wide), input.dtype
        if weight is not None or size_average is not None or reduce is not None or reduction != "mean":
            weight = None if weight is None else weight.to(wide)
            return torch_function(input, target, size_average, reduce, reduction, weight=weight).to(narrow)
        losses = torch_function(input, target, reduction="none")
        count = torch.tensor(float(losses.numel()), dtype=narrow)  # the fault: the count in the input dtype
        return (losses.sum() / count.to(wide)).to(narrow)

    port.__name__ = name
    return port


mse_loss = _patched("mse_loss")
l1_loss = _patched("l1_loss")
