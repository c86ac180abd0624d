"""The reductions shared by every loss: ``"none"``, ``"mean"`` and ``"sum"``.

A loss first computes one unreduced value per element (or per sample); ``reduce`` then
applies the reduction. Each loss states in its docstring what ``"mean"`` divides by, and
passes that as ``mean_denominator`` when it is not the number of elements.
"""

import numpy as np

REDUCTIONS = ("none", "mean", "sum")


def check_reduction(reduction, valid=REDUCTIONS):
    """Raise torch's ``ValueError`` for an unknown reduction string."""
    if reduction not in valid:
        raise ValueError(f"{reduction} is not a valid value for reduction")


def reduce(losses, reduction, mean_denominator=None):
    """Apply ``reduction`` to the unreduced ``losses`` (float64).

    ``"sum"`` of an empty array is 0; ``"mean"`` of an empty array is NaN (0 / 0), as in torch.

    >>> float(reduce(np.array([1.0, 2.0, 6.0]), "mean"))
    3.0
    >>> float(reduce(np.array([1.0, 2.0, 6.0]), "mean", mean_denominator=4.5))
    2.0
    >>> float(reduce(np.zeros(0), "mean")), float(reduce(np.zeros(0), "sum"))
    (nan, 0.0)
    """
    check_reduction(reduction)
    losses = np.asarray(losses, dtype=np.float64)
    if reduction == "none":
        return losses
    total = np.sum(losses)
    if reduction == "sum":
        return np.asarray(total)
    denominator = losses.size if mean_denominator is None else mean_denominator
    with np.errstate(divide="ignore", invalid="ignore"):  # 0 / 0 is torch's NaN
        return np.asarray(total / np.float64(denominator))


def reduction_factor(grad_output, shape, reduction, mean_denominator=None):
    """The factor ``s`` of :func:`reduce_backward`, broadcastable to ``shape`` and not broadcast:
    0-D for ``"sum"`` and ``"mean"``, ``grad_output`` itself for ``"none"``.

    Each loss's backward multiplies its elementwise derivative by ``s``; a 0-D ``s`` spares
    a full array of one repeated value.

    >>> float(reduction_factor(np.float64(2.0), (3,), "mean"))
    0.6666666666666666
    """
    check_reduction(reduction)
    grad_output = np.asarray(grad_output, dtype=np.float64)
    if reduction == "none":
        return np.broadcast_to(grad_output, shape)
    if reduction == "sum":
        return grad_output.reshape(())
    denominator = int(np.prod(shape)) if mean_denominator is None else mean_denominator
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(grad_output / np.float64(denominator)).reshape(())


def reduce_backward(grad_output, shape, reduction, mean_denominator=None):
    """Gradient of ``reduce`` with respect to each unreduced loss, broadcast to ``shape``.

    .. math:: \\partial L / \\partial \\ell_i = g \\text{ (none: } g_i\\text{)},\\quad
              g \\text{ (sum)},\\quad g / D \\text{ (mean, } D = \\text{mean\\_denominator)}

    >>> reduce_backward(np.float64(2.0), (3,), "mean").round(6).tolist()
    [0.666667, 0.666667, 0.666667]
    """
    return np.array(np.broadcast_to(reduction_factor(grad_output, shape, reduction, mean_denominator), shape))
