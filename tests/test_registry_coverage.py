"""Every loss in torch.nn.functional is covered by the registry or listed, with a reason, as
deliberately out of scope: a new loss in a new torch release fails this test."""

import re

import torch.nn.functional as F

from conformance.registry import REGISTRY

# What counts as a loss (or a function a loss rests on) among torch.nn.functional's names.
LOSS_LIKE = re.compile(r"(loss|entropy|^kl_div$|softmax)")

OUT_OF_SCOPE = {
    "gumbel_softmax": "a random sampler (draws Gumbel noise), not a deterministic function of its inputs",
    "linear_cross_entropy": "a fused linear layer followed by cross_entropy (torch >= 2.13); its loss part is "
                            "cross_entropy, which is covered",
    "softmin": "softmax(-x): not used by any loss",
}


def test_every_loss_in_torch_is_covered_or_out_of_scope():
    public = {n for n in dir(F) if not n.startswith("_") and callable(getattr(F, n)) and LOSS_LIKE.search(n)}
    uncovered = sorted(public - set(REGISTRY) - set(OUT_OF_SCOPE))
    assert not uncovered, f"torch.nn.functional has losses the registry does not cover: {uncovered}"


def test_every_registry_function_exists_in_torch():
    assert all(callable(getattr(F, name, None)) for name in REGISTRY)
