"""The binary and multi-label losses on probabilities, logits and signed margins.

binary_cross_entropy takes probabilities; binary_cross_entropy_with_logits,
soft_margin_loss and multilabel_soft_margin_loss take real-valued scores and are computed
here in the overflow-free forms ``softplus(z) = log(1 + exp(z)) = max(z, 0) + log1p(exp(-|z|))``.
"""

import numpy as np

from ._broadcast import unbroadcast
from ._reduction import check_reduction, reduce, reduce_backward, reduction_factor

__all__ = [
    "binary_cross_entropy",
    "binary_cross_entropy_backward",
    "binary_cross_entropy_with_logits",
    "binary_cross_entropy_with_logits_backward",
    "soft_margin_loss",
    "soft_margin_loss_backward",
    "multilabel_soft_margin_loss",
    "multilabel_soft_margin_loss_backward",
]

_LOG_FLOOR = -100.0  # torch clamps both log terms of binary_cross_entropy here
# torch clamps the denominator p (1 - p) of its input gradient at 1e-12, a float32 constant
_EPSILON = float(np.float32(1e-12))


def _softplus_tail(z):
    """``log1p(exp(-|z|))``, the part of ``softplus(z)`` and ``softplus(-z)`` they share."""
    return np.log1p(np.exp(-np.abs(z)))


def _softplus(z, tail=None):
    """``log(1 + exp(z)) = max(z, 0) + log1p(exp(-|z|))`` without overflow: ``inf`` at ``+inf``,
    0 at ``-inf``. ``tail`` is ``_softplus_tail(z)`` when already computed."""
    return np.maximum(z, 0.0) + (_softplus_tail(z) if tail is None else tail)


def _sigmoid(x):
    """``1 / (1 + exp(-x)) = exp(min(x, 0)) / (1 + exp(-|x|))``: neither exp overflows."""
    return np.exp(np.minimum(x, 0.0)) / (1.0 + np.exp(-np.abs(x)))


def _times(coefficient, value):
    """``coefficient * value``, exactly 0 where the coefficient is 0 (even if ``value`` is
    infinite): the limit of the documented formula, where ``0 * inf`` would give NaN."""
    with np.errstate(invalid="ignore"):
        product = np.asarray(coefficient * value)
    product[(coefficient == 0) & ~np.isfinite(value)] = 0.0  # only there does the product differ
    return product


def _broadcast_to_input(name, value, shape):
    """``value`` broadcast to the input's ``shape``: it may not enlarge it (torch writes in place)."""
    try:
        grown = np.broadcast_shapes(np.shape(value), shape)
    except ValueError:
        raise RuntimeError(f"{name} of shape {list(np.shape(value))} is not broadcastable to the input "
                           f"shape {list(shape)}") from None
    if grown != tuple(shape):
        raise RuntimeError(f"output with shape {list(shape)} doesn't match the broadcast shape {list(grown)}")
    return np.broadcast_to(np.asarray(value, dtype=np.float64), shape)


def _bce_terms(input, target, weight, reduction):
    check_reduction(reduction)
    p = np.asarray(input, dtype=np.float64)
    y = np.asarray(target, dtype=np.float64)
    if p.shape != y.shape:
        raise ValueError(f"Using a target size ({list(y.shape)}) that is different to the input size "
                         f"({list(p.shape)}) is deprecated. Please ensure they have the same size.")
    w = 1.0 if weight is None else _broadcast_to_input("weight", weight, p.shape)
    if not np.all((p >= 0) & (p <= 1)):  # NaN fails the check too
        raise RuntimeError("all elements of input should be between 0 and 1")
    if not np.all((y >= 0) & (y <= 1)):
        raise RuntimeError("all elements of target should be between 0 and 1")
    return p, y, w


def binary_cross_entropy(input, target, weight=None, reduction="mean"):
    r"""Binary cross entropy between probabilities ``input`` and (soft) labels ``target``.

    .. math:: \ell_i = -w_i \big(y_i \max(\log p_i, -100) + (1 - y_i) \max(\log(1 - p_i), -100)\big)

    with :math:`w` = ``weight`` broadcast to the input (ones when ``None``). ``"mean"``
    divides by the number of elements: the weights are not in the denominator.

    Shape:
        input: ``(*)``, probabilities in ``[0, 1]``.
        target: ``(*)``, the input's shape, values in ``[0, 1]``.
        weight: broadcastable to the input's shape.
        output: ``(*)`` if ``reduction="none"``, else ``()``.

    Torch behaviour:
        both logarithms are clamped at -100, so a probability of exactly 0 or 1 gives a
        finite loss (100 per unit of the wrong label) and ``p = y`` in ``{0, 1}`` gives 0;
        an empty input gives NaN (mean), 0 (sum).

    Raises:
        ValueError: unknown ``reduction``; ``target`` of a different shape.
        RuntimeError: ``weight`` not broadcastable to the input's shape; an input or a
            target outside ``[0, 1]`` (NaN included).

    Examples:
        >>> p, y = np.array([0.0, 0.5, 1.0, 0.8]), np.array([1.0, 0.0, 0.0, 1.0])
        >>> binary_cross_entropy(p, y, reduction="none").round(6).tolist()
        [100.0, 0.693147, 100.0, 0.223144]
        >>> round(float(binary_cross_entropy(p, y)), 6)
        50.229073
    """
    p, y, w = _bce_terms(input, target, weight, reduction)
    with np.errstate(divide="ignore"):
        log_p = np.maximum(np.log(p), _LOG_FLOOR)  # torch clamps log terms at -100
        log_q = np.maximum(np.log1p(-p), _LOG_FLOOR)
    losses = -w * (y * log_p + (1 - y) * log_q)
    return reduce(losses, reduction)


def binary_cross_entropy_backward(grad_output, input, target, weight=None, reduction="mean"):
    r"""Gradients of ``binary_cross_entropy`` with respect to ``input`` and ``target``.

    With :math:`s` the reduction's factor (:math:`g_i` for none, :math:`g` for sum,
    :math:`g/n` for mean):

    .. math:: \frac{\partial L}{\partial p_i} = s\, w_i \frac{p_i - y_i}{\max(p_i (1 - p_i), 10^{-12})},
              \qquad \frac{\partial L}{\partial y_i} = -s\, w_i \log\frac{p_i}{1 - p_i}

    These are torch's definitions, not the derivatives of the clamped forward: at
    :math:`p \in \{0, 1\}` the input gradient is :math:`10^{12}\, s w (p - y)` and the
    target gradient is infinite (the logit is not clamped). The :math:`10^{-12}` is
    torch's float32 constant, :math:`9.99999996 \cdot 10^{-13}` exactly.

    Returns ``{"input": ..., "target": ...}``, each of the input's shape.

    Examples:
        >>> g = binary_cross_entropy_backward(np.float64(1.0), np.array([0.0, 0.5]), np.array([1.0, 0.0]),
        ...                                   reduction="sum")
        >>> round(float(g["input"][0]) * 1e-12, 9), float(g["input"][1])  # -1 / float32(1e-12), and 0.5 / 0.25
        (-1.000000004, 2.0)
        >>> g["target"].tolist()
        [inf, -0.0]
    """
    p, y, w = _bce_terms(input, target, weight, reduction)
    s = reduction_factor(grad_output, p.shape, reduction)
    grad_input = s * w * (p - y) / np.maximum(p * (1 - p), _EPSILON)
    with np.errstate(divide="ignore"):
        logit = np.log(p) - np.log1p(-p)
    return {"input": grad_input, "target": -s * w * logit}


def _with_logits_terms(input, target, weight, reduction, pos_weight):
    check_reduction(reduction)
    x = np.asarray(input, dtype=np.float64)
    y = np.asarray(target, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"Target size ({list(y.shape)}) must be the same as input size ({list(x.shape)})")
    w = 1.0 if weight is None else _broadcast_to_input("weight", weight, x.shape)
    pw = None if pos_weight is None else _broadcast_to_input("pos_weight", pos_weight, x.shape)
    return x, y, w, pw


def binary_cross_entropy_with_logits(input, target, weight=None, reduction="mean", pos_weight=None):
    r"""Binary cross entropy of ``sigmoid(input)`` against ``target``, computed from the logits.

    .. math:: \ell_i = w_i \big(r_i\, y_i\, \mathrm{softplus}(-x_i) + (1 - y_i)\, \mathrm{softplus}(x_i)\big)
              = -w_i \big(r_i\, y_i \log \sigma(x_i) + (1 - y_i) \log(1 - \sigma(x_i))\big)

    with :math:`w` = ``weight`` and :math:`r` = ``pos_weight`` (ones when ``None``), both
    broadcast to the input; ``pos_weight`` scales the positive term only. ``"mean"``
    divides by the number of elements.

    Shape:
        input: ``(*)``, logits.
        target: ``(*)``, the input's shape; not range-checked.
        weight: broadcastable to the input's shape.
        pos_weight: broadcastable to the input's shape; ``(C,)`` acts along the last dimension.
        output: ``(*)`` if ``reduction="none"``, else ``()``.

    Torch behaviour:
        stable for large logits (``x = -1e4``, ``y = 1`` gives ``1e4``). An infinite logit
        gives torch's NaN where the formula has a finite or infinite limit (``x = +inf,
        y = 1`` should give 0, ``x = -inf`` should give 0 or inf): torch computes
        ``(1 - y) x``, which is ``0 * inf`` or ``inf - inf`` there. The reference gives the
        limit; see ``known_divergences/binary.toml``.

    Raises:
        ValueError: unknown ``reduction``; ``target`` of a different shape.
        RuntimeError: ``weight`` or ``pos_weight`` not broadcastable to the input's shape.

    Examples:
        >>> x, y = np.array([0.0, 1e4, -1e4]), np.array([1.0, 0.0, 1.0])
        >>> binary_cross_entropy_with_logits(x, y, reduction="none").round(6).tolist()
        [0.693147, 10000.0, 10000.0]
        >>> binary_cross_entropy_with_logits(x, y, reduction="none", pos_weight=np.array(2.0)).round(6).tolist()
        [1.386294, 10000.0, 20000.0]
    """
    x, y, w, pw = _with_logits_terms(input, target, weight, reduction, pos_weight)
    positive = y if pw is None else pw * y
    tail = _softplus_tail(x)
    losses = w * (_times(positive, _softplus(-x, tail)) + _times(1 - y, _softplus(x, tail)))
    return reduce(losses, reduction)


def binary_cross_entropy_with_logits_backward(grad_output, input, target, weight=None, reduction="mean",
                                              pos_weight=None):
    r"""Gradients of ``binary_cross_entropy_with_logits`` with respect to ``input`` and ``target``.

    With :math:`s` the reduction's factor (:math:`g_i`, :math:`g` or :math:`g/n`):

    .. math:: \frac{\partial L}{\partial x_i} = s\, w_i \big((1 + (r_i - 1) y_i)\, \sigma(x_i) - r_i y_i\big),
              \qquad \frac{\partial L}{\partial y_i} = s\, w_i \big(r_i\, \mathrm{softplus}(-x_i)
              - \mathrm{softplus}(x_i)\big)

    which without ``pos_weight`` are :math:`s w (\sigma(x) - y)` and :math:`-s w x`. The
    input gradient is finite at infinite logits; ``weight`` and ``pos_weight`` are not
    differentiable in torch.

    Returns ``{"input": ..., "target": ...}``, each of the input's shape.

    Examples:
        >>> g = binary_cross_entropy_with_logits_backward(np.float64(1.0), np.array([0.0, -np.inf]),
        ...                                               np.array([1.0, 1.0]), reduction="sum")
        >>> g["input"].tolist(), g["target"].tolist()
        ([-0.5, -1.0], [-0.0, inf])
    """
    x, y, w, pw = _with_logits_terms(input, target, weight, reduction, pos_weight)
    s = reduction_factor(grad_output, x.shape, reduction)
    if pw is None:
        return {"input": s * w * (_sigmoid(x) - y), "target": -s * w * x}
    grad_input = s * w * ((1 + (pw - 1) * y) * _sigmoid(x) - pw * y)
    tail = _softplus_tail(x)
    with np.errstate(invalid="ignore"):
        grad_target = s * w * (pw * _softplus(-x, tail) - _softplus(x, tail))
    return {"input": grad_input, "target": grad_target}


def _soft_margin_terms(input, target, reduction):
    check_reduction(reduction)
    x = np.asarray(input, dtype=np.float64)
    y = np.asarray(target, dtype=np.float64)
    try:
        x, y = np.broadcast_arrays(x, y)  # torch broadcasts silently here
    except ValueError:
        raise RuntimeError(f"The size of tensor a ({list(x.shape)}) must match the size of tensor b "
                           f"({list(y.shape)})") from None
    return x, y


def soft_margin_loss(input, target, reduction="mean"):
    r"""Logistic loss of the margin ``target * input``, for labels :math:`y \in \{-1, 1\}`.

    .. math:: \ell_i = \log\big(1 + \exp(-y_i x_i)\big)

    ``"mean"`` divides by the number of elements of the broadcast input and target.

    Shape:
        input: ``(*)``.
        target: broadcastable with the input; labels ``-1`` or ``1`` (not checked).
        output: the broadcast shape if ``reduction="none"``, else ``()``.

    Torch behaviour:
        torch evaluates the formula literally, so ``exp(-y x)`` overflows for
        :math:`y x \lesssim -88.7` in float32 (-709.8 in float64): the loss is inf and the
        gradient NaN where the exact values are :math:`-y x` and :math:`-y`. The reference
        computes the exact value; see ``known_divergences/binary.toml``.

    Raises:
        ValueError: unknown ``reduction``.
        RuntimeError: input and target not broadcastable.

    Examples:
        >>> soft_margin_loss(np.array([0.0, 2.0, -1e4]), np.array([1.0, -1.0, 1.0]),
        ...                  reduction="none").round(6).tolist()
        [0.693147, 2.126928, 10000.0]
    """
    x, y = _soft_margin_terms(input, target, reduction)
    return reduce(_softplus(-y * x), reduction)


def soft_margin_loss_backward(grad_output, input, target, reduction="mean"):
    r"""Gradient of ``soft_margin_loss`` with respect to ``input``.

    .. math:: \frac{\partial L}{\partial x_i} = -s\, y_i\, \sigma(-y_i x_i)

    with :math:`s` the reduction's factor (:math:`g_i`, :math:`g` or :math:`g/n`). The
    target is not differentiable in torch.

    Returns ``{"input": ...}`` of the input's shape.

    Examples:
        >>> g = soft_margin_loss_backward(np.float64(1.0), np.array([0.0, -np.inf]), np.array([1.0, 1.0]),
        ...                               reduction="sum")
        >>> g["input"].tolist()
        [-0.5, -1.0]
    """
    x, y = _soft_margin_terms(input, target, reduction)
    s = reduction_factor(grad_output, x.shape, reduction)
    return {"input": unbroadcast(-s * y * _sigmoid(-y * x), np.shape(input))}


def _multilabel_terms(input, target, weight, reduction):
    x = np.asarray(input, dtype=np.float64)
    if x.ndim == 0:
        raise IndexError("Dimension specified as -1 but tensor has no dimensions")
    y = np.asarray(target, dtype=np.float64)
    try:
        y = np.broadcast_to(y, x.shape)  # torch broadcasts the target silently
    except ValueError:
        raise RuntimeError(f"The size of tensor a ({list(x.shape)}) must match the size of tensor b "
                           f"({list(y.shape)})") from None
    w = None if weight is None else _broadcast_to_input("weight", weight, x.shape)
    return x, y, w


def multilabel_soft_margin_loss(input, target, weight=None, reduction="mean"):
    r"""Multi-label one-versus-all logistic loss, averaged over the classes (the last dimension).

    .. math:: \ell_n = \frac{1}{C} \sum_c w_c \big(y_{n,c}\, \mathrm{softplus}(-x_{n,c})
              + (1 - y_{n,c})\, \mathrm{softplus}(x_{n,c})\big)
              = -\frac{1}{C} \sum_c w_c \big(y_{n,c} \log\sigma(x_{n,c}) + (1 - y_{n,c}) \log\sigma(-x_{n,c})\big)

    with :math:`w` = ``weight`` (ones when ``None``) and :math:`n` running over every index
    but the last. ``"mean"`` divides by the number of samples (the product of all
    dimensions but the last), not by the number of elements.

    Shape:
        input: ``(C,)``, ``(N, C)`` or ``(*, C)``: the class dimension is the last one.
        target: broadcastable to the input's shape; labels in ``{0, 1}`` (not checked).
        weight: ``(C,)`` (anything broadcastable to the input's shape).
        output: ``(*)`` (``()`` for a ``(C,)`` input) if ``reduction="none"``, else ``()``.

    Torch behaviour:
        the class dimension is the last one, also for inputs of three or more dimensions; a
        sample with no class (``C = 0``) gives NaN (0 / 0). An infinite logit whose label
        makes it correct (``x = +inf, y = 1``) gives torch's NaN (``0 * inf``) instead of
        the limit 0: see ``known_divergences/binary.toml``.

    Raises:
        IndexError: 0-D input.
        RuntimeError: target or weight not broadcastable to the input's shape.
        ValueError: unknown ``reduction`` (torch: "<reduction> is not valid").

    Examples:
        >>> x, y = np.array([[0.0, 2.0], [-1.0, 1.0]]), np.array([[1.0, 0.0], [0.0, 1.0]])
        >>> multilabel_soft_margin_loss(x, y, reduction="none").round(6).tolist()
        [1.410038, 0.313262]
        >>> round(float(multilabel_soft_margin_loss(x, y, weight=np.array([2.0, 0.0]))), 6)
        0.503204
    """
    x, y, w = _multilabel_terms(input, target, weight, reduction)
    tail = _softplus_tail(x)
    losses = _times(y, _softplus(-x, tail)) + _times(1 - y, _softplus(x, tail))
    if w is not None:
        losses = losses * w
    with np.errstate(invalid="ignore", divide="ignore"):  # C = 0 is 0 / 0, torch's NaN
        per_sample = np.sum(losses, axis=-1) / x.shape[-1]
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"{reduction} is not valid")
    return reduce(per_sample, reduction)


def multilabel_soft_margin_loss_backward(grad_output, input, target, weight=None, reduction="mean"):
    r"""Gradients of ``multilabel_soft_margin_loss`` with respect to ``input``, ``target`` and ``weight``.

    With :math:`s_n` the reduction's factor per sample (:math:`g_n`, :math:`g` or :math:`g/N`):

    .. math:: \frac{\partial L}{\partial x_{n,c}} = \frac{s_n w_c}{C} \big(\sigma(x_{n,c}) - y_{n,c}\big),\qquad
              \frac{\partial L}{\partial y_{n,c}} = -\frac{s_n w_c}{C}\, x_{n,c},\qquad
              \frac{\partial L}{\partial w_c} = \sum_n \frac{s_n}{C} \ell_{n,c}

    with :math:`\ell_{n,c}` the unweighted elementwise loss. Returns ``{"input", "target"}``
    plus ``"weight"`` when a weight is given, each of its argument's shape.

    Examples:
        >>> g = multilabel_soft_margin_loss_backward(np.float64(1.0), np.array([[0.0, 0.0]]),
        ...                                          np.array([[1.0, 0.0]]))
        >>> g["input"].tolist()
        [[-0.25, 0.25]]
    """
    x, y, w = _multilabel_terms(input, target, weight, reduction)
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"{reduction} is not valid")
    n_classes = x.shape[-1]
    with np.errstate(invalid="ignore", divide="ignore"):
        s = reduce_backward(grad_output, x.shape[:-1], reduction)[..., None] / n_classes
    scale = s if w is None else s * w
    grads = {"input": scale * (_sigmoid(x) - y),
             "target": unbroadcast(-scale * x, np.shape(target))}
    if w is not None:
        tail = _softplus_tail(x)
        losses = _times(y, _softplus(-x, tail)) + _times(1 - y, _softplus(x, tail))
        grads["weight"] = unbroadcast(s * losses, np.shape(weight))
    return grads
