"""The transform ports' mse_loss without a planted fault: it passes every kind of check."""

from _transform_mse import mse_loss  # noqa: F401

# torch answers the calls it is not rewritten for: its known divergences are this port's too.
INHERITS_TORCH_DIVERGENCES = True
