"""A planted size fault: cosine_embedding_loss whose dot products and squared norms over the feature
dimension D run in blocks of 1024 features and leave out the last partial block, as a kernel whose
grid rounds the number of blocks down does. Up to 1024 features (the default grid has at most 5)
it is torch's own function; D = 1025 drops its last feature, so the "block" size regime fails,
forward and backward."""

import torch.nn.functional as F

BLOCK = 1024
INHERITS_TORCH_DIVERGENCES = True  # torch's own functions elsewhere


def cosine_embedding_loss(input1, input2, target, margin=0.0, size_average=None, reduce=None, reduction="mean"):
    features = input1.shape[-1] if input1.dim() else 0
    if features <= BLOCK or size_average is not None or reduce is not None:
        return F.cosine_embedding_loss(input1, input2, target, margin, size_average, reduce, reduction)
    kept = features // BLOCK * BLOCK  # the fault: the partial block of features is never reduced
    return F.cosine_embedding_loss(input1[..., :kept], input2[..., :kept], target, margin, reduction=reduction)


def __getattr__(name):  # everything else is torch's
    return getattr(F, name)
