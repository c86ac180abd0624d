"""multi_margin_loss, multilabel_margin_loss, hinge_embedding_loss, margin_ranking_loss and cosine_embedding_loss (not yet written)."""

__all__ = []
