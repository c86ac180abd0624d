"""A planted size fault: ctc_loss whose extended label sequence (2 L + 1 states) lives in one tile of
32 states, one warp, so a target of more than 15 labels is silently cut to its first 15. The default
grid's targets have at most 4 labels and are torch's own function; the "long sequence" size regime
(targets of about 30 labels) fails, forward and backward."""

import torch
import torch.nn.functional as F

LABELS = 15  # (32 - 1) // 2
INHERITS_TORCH_DIVERGENCES = True  # torch's own functions elsewhere


def ctc_loss(log_probs, targets, input_lengths, target_lengths, blank=0, reduction="mean", zero_infinity=False):
    lengths = torch.as_tensor(target_lengths)
    if (int(lengths.max()) if lengths.numel() else 0) <= LABELS:
        return F.ctc_loss(log_probs, targets, input_lengths, target_lengths, blank, reduction, zero_infinity)
    if targets.dim() == 1 and lengths.dim() == 1:  # concatenated: cut each sample's part
        starts = torch.cumsum(lengths, 0) - lengths
        targets = torch.cat([targets[s:s + min(int(n), LABELS)] for s, n in zip(starts, lengths, strict=True)])
    lengths = lengths.clamp(max=LABELS)  # the fault: the labels past the tile are dropped
    if isinstance(target_lengths, tuple):
        lengths = tuple(int(n) for n in lengths)
    return F.ctc_loss(log_probs, targets, input_lengths, lengths, blank, reduction, zero_infinity)


def __getattr__(name):  # everything else is torch's
    return getattr(F, name)
