"""The pointwise regression losses on the difference ``d = input - target``.

The input and the target broadcast against each other (torch warns when their shapes
differ); every loss below is elementwise on the broadcast shape. ``weight``, where torch
accepts it, must have exactly the input's shape.
"""

import warnings

import numpy as np

from ._broadcast import unbroadcast
from ._reduction import check_reduction, reduce, reduction_factor

__all__ = [
    "mse_loss",
    "mse_loss_backward",
    "l1_loss",
    "l1_loss_backward",
    "smooth_l1_loss",
    "smooth_l1_loss_backward",
    "huber_loss",
    "huber_loss_backward",
]


def _sign(d):
    return np.where(np.isnan(d), 0.0, np.sign(d))  # torch's sign(NaN) is 0: l1's gradient there is 0


def _difference(input, target, reduction, weight=None):
    """``(d, w)``: the broadcast difference and the weight, after torch's checks in its order."""
    x = np.asarray(input, dtype=np.float64)
    t = np.asarray(target, dtype=np.float64)
    if x.shape != t.shape:
        warnings.warn(f"Using a target size ({list(t.shape)}) that is different to the input size "
                      f"({list(x.shape)}). This will likely lead to incorrect results due to broadcasting. "
                      "Please ensure they have the same size.", UserWarning, stacklevel=3)
    try:
        x, t = np.broadcast_arrays(x, t)
    except ValueError:
        raise RuntimeError(f"The size of tensor a ({list(np.shape(input))}) must match the size of "
                           f"tensor b ({list(np.shape(target))})") from None
    w = None
    if weight is not None:
        w = np.asarray(weight, dtype=np.float64)
        if w.shape != np.shape(input):  # the input's own shape, not the broadcast one
            raise ValueError("Weights and input must have the same size.")
    check_reduction(reduction)
    return x - t, w


def _weighted(losses, reduction, w, sum_of_weights_mean):
    """Reduce ``w * losses``; "mean" divides by ``sum(w)`` or by the number of elements."""
    if w is None:
        return reduce(losses, reduction)
    weighted = losses * w
    return reduce(weighted, reduction, mean_denominator=np.sum(w) if sum_of_weights_mean else None)


def _weighted_backward(grad_output, dloss, losses, reduction, w, sum_of_weights_mean, shapes):
    """Gradients of the weighted reduction, given ``dloss = d loss_i / d d_i`` elementwise and
    the unreduced ``losses`` (needed only with a weight)."""
    if w is None:
        grad_d = reduction_factor(grad_output, np.shape(dloss), reduction) * dloss
        return {"input": unbroadcast(grad_d, shapes[0]), "target": unbroadcast(-grad_d, shapes[1])}
    if reduction == "mean" and sum_of_weights_mean:
        total = np.sum(w)
        with np.errstate(divide="ignore", invalid="ignore"):
            s = np.float64(grad_output / total)
            # d/dw_j of sum(w l) / sum(w): its own losses, minus the mean through the denominator
            grad_w = unbroadcast(s * losses, w.shape) - grad_output * np.sum(losses * w) / total**2
    else:
        s = reduction_factor(grad_output, np.shape(dloss), reduction)
        grad_w = unbroadcast(s * losses, w.shape)
    grad_d = s * w * dloss
    return {"input": unbroadcast(grad_d, shapes[0]), "target": unbroadcast(-grad_d, shapes[1]),
            "weight": grad_w}


def mse_loss(input, target, reduction="mean", weight=None):
    r"""Squared error.

    .. math:: \ell_i = w_i (x_i - y_i)^2

    with :math:`w` = ``weight`` (ones when ``None``). ``"mean"`` divides by the number of
    elements of the broadcast shape, or by :math:`\sum_i w_i` when a weight is given.

    Shape:
        input: ``(*)``.
        target: broadcastable with the input (torch warns when the shapes differ).
        weight: exactly the input's shape.
        output: the broadcast shape if ``reduction="none"``, else ``()``.

    Torch behaviour:
        the weighted mean is a weighted average (:math:`\sum w \ell / \sum w`), unlike
        ``huber_loss``'s; ``weight`` is differentiable.

    Raises:
        RuntimeError: input and target not broadcastable.
        ValueError: ``weight`` not of the input's shape; unknown ``reduction``.

    Examples:
        >>> x, y = np.array([1.0, 2.0, 4.0]), np.array([0.0, 2.0, 2.0])
        >>> round(float(mse_loss(x, y)), 6), round(float(mse_loss(x, y, weight=np.array([1.0, 1.0, 2.0]))), 6)
        (1.666667, 2.25)
    """
    d, w = _difference(input, target, reduction, weight)
    return _weighted(d * d, reduction, w, sum_of_weights_mean=True)


def mse_loss_backward(grad_output, input, target, reduction="mean", weight=None):
    r"""Gradients of ``mse_loss``.

    With :math:`s` the reduction's factor (:math:`g_i`, :math:`g`, :math:`g/n`, or
    :math:`g / W` for the weighted mean, :math:`W = \sum_j w_j`, :math:`L` the loss):

    .. math:: \frac{\partial L}{\partial x_i} = -\frac{\partial L}{\partial y_i} = 2 s w_i (x_i - y_i),\qquad
              \frac{\partial L}{\partial w_i} = s\,(x_i - y_i)^2 \;\big(- g L / W \text{ for the weighted mean}\big)

    summed over the positions an argument was broadcast to. Returns ``{"input", "target"}``
    plus ``"weight"`` when a weight is given.

    Examples:
        >>> g = mse_loss_backward(np.float64(1.0), np.array([1.0, 3.0]), np.array([0.0, 0.0]))
        >>> g["input"].tolist()
        [1.0, 3.0]
    """
    d, w = _difference(input, target, reduction, weight)
    return _weighted_backward(grad_output, 2 * d, None if w is None else d * d, reduction, w, True,
                              (np.shape(input), np.shape(target)))


def l1_loss(input, target, reduction="mean", weight=None):
    r"""Absolute error.

    .. math:: \ell_i = w_i |x_i - y_i|

    ``"mean"`` divides by the number of elements of the broadcast shape, or by
    :math:`\sum_i w_i` when a weight is given.

    Shape:
        input: ``(*)``.
        target: broadcastable with the input (torch warns when the shapes differ).
        weight: exactly the input's shape.
        output: the broadcast shape if ``reduction="none"``, else ``()``.

    Torch behaviour:
        the weighted mean is a weighted average, as for ``mse_loss``.

    Raises:
        RuntimeError: input and target not broadcastable.
        ValueError: ``weight`` not of the input's shape; unknown ``reduction``.

    Examples:
        >>> x, y = np.array([1.0, 2.0, 4.0]), np.array([0.0, 2.0, 2.0])
        >>> float(l1_loss(x, y)), float(l1_loss(x, y, weight=np.array([1.0, 1.0, 2.0])))
        (1.0, 1.25)
    """
    d, w = _difference(input, target, reduction, weight)
    return _weighted(np.abs(d), reduction, w, sum_of_weights_mean=True)


def l1_loss_backward(grad_output, input, target, reduction="mean", weight=None):
    r"""Gradients of ``l1_loss``.

    .. math:: \frac{\partial L}{\partial x_i} = -\frac{\partial L}{\partial y_i}
              = s\, w_i \operatorname{sign}(x_i - y_i),\qquad
              \frac{\partial L}{\partial w_i} = s\, |x_i - y_i| \;\big(- g L / W \text{ for the weighted mean}\big)

    with :math:`s` as for ``mse_loss_backward``. At :math:`x_i = y_i` the gradient is 0
    (torch's ``sign(0) = 0``), and so it is where :math:`x_i - y_i` is NaN (torch's
    ``sign(NaN) = 0``; the loss itself is NaN there).

    Examples:
        >>> g = l1_loss_backward(np.float64(1.0), np.array([1.0, 0.0, -2.0]), np.zeros(3), reduction="sum")
        >>> g["input"].tolist()
        [1.0, 0.0, -1.0]
    """
    d, w = _difference(input, target, reduction, weight)
    return _weighted_backward(grad_output, _sign(d), None if w is None else np.abs(d), reduction, w, True,
                              (np.shape(input), np.shape(target)))


def _check_beta(beta):
    if beta < 0:
        raise RuntimeError("smooth_l1_loss does not support negative values for beta.")


def _smooth_l1_losses(d, beta):
    """Smooth L1 of the difference ``d`` with threshold ``beta > 0``: ``|d| - 0.5 beta``, and
    ``0.5 d^2 / beta`` where ``|d| < beta`` (computed from ``|d|``: its square is ``d^2`` exactly)."""
    a = np.asarray(np.abs(d))
    quadratic = np.flatnonzero(a < beta)  # positions, not a mask: take and put are faster than masks
    near = np.take(a, quadratic)
    losses = np.subtract(a, 0.5 * beta, out=a)  # in place: |d| is not needed any more
    np.put(losses, quadratic, 0.5 * near * near / beta)
    return losses


def _smooth_l1_slope(d, beta):
    """``d loss / d d`` of smooth L1 with threshold ``beta > 0``: ``d / beta`` within ``[-1, 1]``."""
    # |d| = beta takes the quadratic branch's slope d / beta = sign(d): the loss is C^1 there
    slope = np.asarray(d / beta)
    return np.clip(slope, -1.0, 1.0, out=slope)  # NaN stays NaN


def smooth_l1_loss(input, target, reduction="mean", beta=1.0):
    r"""Smooth L1: quadratic below ``beta``, absolute error above.

    .. math:: \ell_i = \begin{cases} 0.5\, d_i^2 / \beta & |d_i| < \beta \\
              |d_i| - 0.5\, \beta & \text{otherwise} \end{cases},\qquad d = x - y

    and :math:`\ell_i = |d_i|` for :math:`\beta = 0`. ``"mean"`` divides by the number of
    elements of the broadcast shape.

    Shape:
        input: ``(*)``.
        target: broadcastable with the input (torch warns when the shapes differ).
        output: the broadcast shape if ``reduction="none"``, else ``()``.

    Torch behaviour:
        ``beta = 0`` is ``l1_loss`` exactly (no division by zero); the slope stays at most
        1 in magnitude for every ``beta``, whereas ``huber_loss``'s is ``delta``:
        ``huber_loss(delta=b) = b * smooth_l1_loss(beta=b)``.

    Raises:
        RuntimeError: input and target not broadcastable; ``beta < 0``.
        ValueError: unknown ``reduction``.

    Examples:
        >>> d = np.array([0.25, 1.0, 3.0])
        >>> smooth_l1_loss(d, np.zeros(3), reduction="none", beta=0.5).tolist()
        [0.0625, 0.75, 2.75]
        >>> smooth_l1_loss(d, np.zeros(3), reduction="none", beta=0.0).tolist()
        [0.25, 1.0, 3.0]
    """
    d, _ = _difference(input, target, reduction)
    _check_beta(beta)
    if beta == 0:  # torch dispatches to l1_loss
        return reduce(np.abs(d), reduction)
    return reduce(_smooth_l1_losses(d, beta), reduction)


def smooth_l1_loss_backward(grad_output, input, target, reduction="mean", beta=1.0):
    r"""Gradients of ``smooth_l1_loss``.

    .. math:: \frac{\partial L}{\partial x_i} = -\frac{\partial L}{\partial y_i}
              = s \begin{cases} d_i / \beta & |d_i| \le \beta \\ \operatorname{sign}(d_i) & |d_i| > \beta \end{cases}

    with :math:`s` the reduction's factor; :math:`\operatorname{sign}(d_i)` (0 at 0) for
    :math:`\beta = 0`.

    Examples:
        >>> g = smooth_l1_loss_backward(np.float64(1.0), np.array([0.25, 0.5, 2.0]), np.zeros(3),
        ...                             reduction="sum", beta=0.5)
        >>> g["input"].tolist()
        [0.5, 1.0, 1.0]
    """
    d, _ = _difference(input, target, reduction)
    _check_beta(beta)
    slope = _sign(d) if beta == 0 else _smooth_l1_slope(d, beta)
    return _weighted_backward(grad_output, slope, None, reduction, None, False, (np.shape(input), np.shape(target)))


def _check_delta(delta):
    if delta <= 0:
        raise RuntimeError("huber_loss does not support non-positive values for delta.")


def huber_loss(input, target, reduction="mean", delta=1.0, weight=None):
    r"""Huber loss: quadratic below ``delta``, ``delta``-scaled absolute error above.

    .. math:: \ell_i = w_i \begin{cases} 0.5\, d_i^2 & |d_i| < \delta \\
              \delta (|d_i| - 0.5\, \delta) & \text{otherwise} \end{cases},\qquad d = x - y

    ``"mean"`` divides by the number of elements of the broadcast shape, **also** when a
    weight is given (torch's weighted Huber mean is ``mean(w * l)``, not a weighted average).

    Shape:
        input: ``(*)``.
        target: broadcastable with the input (torch warns when the shapes differ).
        weight: exactly the input's shape.
        output: the broadcast shape if ``reduction="none"``, else ``()``.

    Torch behaviour:
        ``huber_loss(delta=b) = b * smooth_l1_loss(beta=b)``; the weighted mean divides by
        the number of elements, unlike ``mse_loss`` and ``l1_loss`` which divide by ``sum(w)``.

    Raises:
        RuntimeError: input and target not broadcastable; ``delta <= 0``.
        ValueError: ``weight`` not of the input's shape; unknown ``reduction``.

    Examples:
        >>> d = np.array([0.25, 1.0, 3.0])
        >>> huber_loss(d, np.zeros(3), reduction="none", delta=0.5).tolist()
        [0.03125, 0.375, 1.375]
        >>> round(float(huber_loss(d, np.zeros(3), weight=np.array([4.0, 0.0, 0.0]))), 6)
        0.041667
    """
    d, w = _difference(input, target, reduction, weight)
    _check_delta(delta)
    losses = delta * _smooth_l1_losses(d, delta)
    return _weighted(losses, reduction, w, sum_of_weights_mean=False)


def huber_loss_backward(grad_output, input, target, reduction="mean", delta=1.0, weight=None):
    r"""Gradients of ``huber_loss``.

    .. math:: \frac{\partial L}{\partial x_i} = -\frac{\partial L}{\partial y_i}
              = s\, w_i \begin{cases} d_i & |d_i| \le \delta \\ \delta \operatorname{sign}(d_i) & |d_i| > \delta
              \end{cases},\qquad \frac{\partial L}{\partial w_i} = s\, \ell_i / w_i

    with :math:`s` the reduction's factor (:math:`g/n` for the mean, weighted or not).

    Examples:
        >>> g = huber_loss_backward(np.float64(1.0), np.array([0.25, 0.5, 2.0]), np.zeros(3),
        ...                         reduction="sum", delta=0.5)
        >>> g["input"].tolist()
        [0.25, 0.5, 0.5]
    """
    d, w = _difference(input, target, reduction, weight)
    _check_delta(delta)
    losses = None if w is None else delta * _smooth_l1_losses(d, delta)
    return _weighted_backward(grad_output, delta * _smooth_l1_slope(d, delta), losses, reduction, w, False,
                              (np.shape(input), np.shape(target)))
