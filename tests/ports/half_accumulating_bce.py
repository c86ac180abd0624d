"""A planted fault that only a long reduction shows: binary_cross_entropy_with_logits whose
``"mean"`` and ``"sum"`` add the losses in blocks of 65536 elements in float32 (correct) and then
add the blocks' contributions in a float16 accumulator, as a chunked kernel with a low-precision
cross-block accumulator would. Up to 65536 elements it is torch's own function, so the default
grid (a few hundred elements at most) and the scale-smoke shapes pass; the scale profile's 2**27
elements are 2048 blocks, and it fails there: forward (the accumulator stagnates once its ulp
exceeds a block's share) and backward (grad_output passes through the float16 casts)."""

import torch.nn.functional as F

BLOCK = 65536
INHERITS_TORCH_DIVERGENCES = True  # torch's own function below BLOCK, with torch's known divergences


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None,
                                     reduction="mean", pos_weight=None):
    if input.numel() <= BLOCK or reduction == "none" or size_average is not None or reduce is not None:
        return F.binary_cross_entropy_with_logits(input, target, weight, size_average, reduce, reduction, pos_weight)
    flat = F.binary_cross_entropy_with_logits(input, target, weight, reduction="none", pos_weight=pos_weight)
    flat = flat.reshape(-1)
    scale = 1.0 / flat.numel() if reduction == "mean" else 1.0
    padded = F.pad(flat.float(), (0, -flat.numel() % BLOCK))
    blocks = (padded.reshape(-1, BLOCK).sum(dim=1) * scale).half()  # each block in float32, then to float16
    total = blocks[0]
    for block in blocks[1:]:
        total = total + block  # the fault: the accumulator is float16
    return total.to(input.dtype)
