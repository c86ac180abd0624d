"""ctc_loss (not yet written)."""

__all__ = []
