"""kl_div, poisson_nll_loss and gaussian_nll_loss (not yet written)."""

__all__ = []
