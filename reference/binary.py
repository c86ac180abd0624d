"""binary_cross_entropy, binary_cross_entropy_with_logits, soft_margin_loss and multilabel_soft_margin_loss (not yet written)."""

__all__ = []
