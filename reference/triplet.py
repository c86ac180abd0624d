"""triplet_margin_loss and triplet_margin_with_distance_loss (not yet written)."""

__all__ = []
