"""triplet_margin_loss and triplet_margin_with_distance_loss: hinge on a distance gap.

Both compare, per triplet, the distance from the anchor to the positive with the distance
from the anchor to the negative, over the **last** dimension of inputs that have the same
number of dimensions and broadcast against each other:

.. math:: \\ell = \\max(\\mathrm{margin} + d(a, p) - d_-, 0),\\qquad
          d_- = d(a, n) \\text{, or } \\min(d(a, n), d(p, n)) \\text{ with swap}

The gradients follow torch's autograd formulas exactly, including their conventions at
the points where the loss is not differentiable (documented per function), so that the
gradient of every generated case, ties included, is a single well-defined value.
"""

import numpy as np

from ._broadcast import unbroadcast
from ._reduction import check_reduction, reduce, reduce_backward

__all__ = [
    "pairwise_distance",
    "pairwise_distance_backward",
    "triplet_margin_loss",
    "triplet_margin_loss_backward",
    "triplet_margin_with_distance_loss",
    "triplet_margin_with_distance_loss_backward",
]


def _sgn(x):
    return np.where(np.isnan(x), 0.0, np.sign(x))  # torch.sgn(nan) is 0 for real tensors


def _norm(v, p):
    """The p-norm over the last axis, as ``torch.norm(v, p, dim=-1)`` (p = 0 counts non-zeros)."""
    a = np.abs(v)
    if p == np.inf:
        return np.max(a, axis=-1)
    if p == 0:
        return np.sum(a != 0, axis=-1).astype(np.float64)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        return np.sum(a**p, axis=-1) ** (1.0 / p)


def _norm_backward(g, v, p, norm):
    """``g * d norm / d v``, transcribing torch's ``norm_backward`` branch by branch: the
    gradient is 0 where the norm is 0 (and, for p < 1, at each zero element)."""
    g, norm = g[..., None], norm[..., None]
    a = np.abs(v)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        if p == 0:
            return np.zeros(v.shape)
        if p == 1:
            return _sgn(v) * g
        if p == 2:
            unit = v / norm
            unit[(norm == 0)[..., 0]] = 0.0  # the rows (few) whose norm is 0
            unit *= g
            return unit
        if p == np.inf:
            # every element at the maximum shares the gradient equally (a NaN counts as one)
            mask = ((a == norm) | np.isnan(a)).astype(np.float64)
            return _sgn(v) * ((g / np.sum(mask, axis=-1, keepdims=True)) * mask)
        if p < 1:
            scaled = _sgn(v) * np.where(v == 0, 0.0, a ** (p - 1))
            return scaled * g * norm ** (1 - p)
        scale = np.where(norm == 0, 0.0, g / norm ** (p - 1))
        scaled = _sgn(v) * a ** (p - 1) if p < 2 else v * a ** (p - 2)
        return scaled * scale


def pairwise_distance(x1, x2, p=2.0, eps=1e-6, keepdim=False):
    r"""The p-norm distance over the last dimension, with ``eps`` added to the difference.

    .. math:: d(x_1, x_2) = \lVert x_1 - x_2 + \varepsilon \rVert_p

    Shape:
        x1, x2: any shapes that broadcast (a 0-D pair gives :math:`|x_1 - x_2 + \varepsilon|`).
        output: the broadcast shape without its last dimension (kept as 1 with ``keepdim``).

    Torch behaviour:
        ``eps`` shifts every element of the difference, not the norm, so
        ``d(x, x) = eps * D**(1/p)`` for ``D`` elements; ``p`` is not validated (0 counts
        the non-zero elements).

    Examples:
        >>> float(pairwise_distance(np.array([3.0, 0.0]), np.array([0.0, 4.0]), eps=0.0))
        5.0
        >>> float(pairwise_distance(np.zeros(4), np.zeros(4), p=2, eps=0.5))  # ||(0.5,)*4||
        1.0
    """
    v = np.asarray(x1, dtype=np.float64) - np.asarray(x2, dtype=np.float64)
    v = (v.reshape(1) if v.ndim == 0 else v) + eps  # torch reduces a 0-D difference over "dim -1"
    d = _norm(v, p)
    return d[..., None] if keepdim else d


def pairwise_distance_backward(grad_output, x1, x2, p=2.0, eps=1e-6, keepdim=False):
    r"""Gradients of ``pairwise_distance``: with :math:`v = x_1 - x_2 + \varepsilon` and
    :math:`d = \lVert v \rVert_p`,

    .. math:: \frac{\partial d}{\partial v_i} = \frac{\mathrm{sgn}(v_i)\,|v_i|^{p-1}}{d^{\,p-1}},
              \qquad \frac{\partial d}{\partial x_1} = -\frac{\partial d}{\partial x_2}
              = \frac{\partial d}{\partial v}

    with torch's conventions: 0 wherever :math:`d = 0`, 0 at each :math:`v_i = 0` for
    :math:`p < 1`, :math:`\mathrm{sgn}` of NaN is 0, and for :math:`p = \infty` the gradient
    is shared equally by the elements at the maximum. Each gradient is summed over the
    dimensions its argument was broadcast along.

    Returns ``{"x1": ..., "x2": ...}``.
    """
    x1, x2 = np.asarray(x1, dtype=np.float64), np.asarray(x2, dtype=np.float64)
    v = x1 - x2
    zero_d = v.ndim == 0
    v = (v.reshape(1) if zero_d else v) + eps
    g = np.asarray(grad_output, dtype=np.float64)
    g = g[..., 0] if keepdim else g
    grad_v = _norm_backward(np.broadcast_to(g, v.shape[:-1]), v, p, _norm(v, p))
    grad_v = grad_v.reshape(()) if zero_d else grad_v
    return {"x1": unbroadcast(grad_v, x1.shape), "x2": unbroadcast(-grad_v, x2.shape)}


def _check_triplet(anchor, positive, negative, margin):
    if margin <= 0:
        raise ValueError(f"margin must be greater than 0, got {margin}")
    dims = [np.ndim(x) for x in (anchor, positive, negative)]
    if len(set(dims)) != 1:
        raise RuntimeError(
            "The anchor, positive, and negative tensors are expected to have the same number of "
            f"dimensions, but got: anchor {dims[0]}D, positive {dims[1]}D, and negative {dims[2]}D inputs"
        )
    shapes = [np.shape(x) for x in (anchor, positive, negative)]
    try:
        np.broadcast_shapes(*shapes)
    except ValueError:
        raise RuntimeError(f"The size of the anchor, positive and negative tensors must broadcast, "
                           f"but got {', '.join(str(list(s)) for s in shapes)}") from None


class _Pairwise:
    """The default distance of both losses, ``pairwise_distance(x1, x2, p, eps)``, with its backward."""

    def __init__(self, p, eps):
        self.p, self.eps = p, eps

    def __call__(self, x1, x2):
        return pairwise_distance(x1, x2, self.p, self.eps)

    def backward(self, grad, x1, x2):
        g = pairwise_distance_backward(grad, x1, x2, self.p, self.eps)
        return g["x1"], g["x2"]


def _triplet_terms(anchor, positive, negative, distance, margin, swap):
    """``(hinge input z, d_ap, d_an, d_pn)``; ``d_pn`` is None without swap."""
    a, p, n = (np.asarray(x, dtype=np.float64) for x in (anchor, positive, negative))
    d_ap, d_an = np.asarray(distance(a, p), np.float64), np.asarray(distance(a, n), np.float64)
    d_pn = np.asarray(distance(p, n), np.float64) if swap else None
    d_neg = np.minimum(d_an, d_pn) if swap else d_an  # np.minimum propagates NaN, as torch.minimum
    with np.errstate(invalid="ignore"):
        return margin + d_ap - d_neg, d_ap, d_an, d_pn


def _triplet_forward(anchor, positive, negative, distance, margin, swap, reduction):
    z = _triplet_terms(anchor, positive, negative, distance, margin, swap)[0]
    return reduce(np.maximum(z, 0.0), reduction)  # NaN stays NaN, as in torch's clamp_min


def _triplet_backward(grad_output, anchor, positive, negative, distance, margin, swap, reduction):
    a, p, n = (np.asarray(x, dtype=np.float64) for x in (anchor, positive, negative))
    z, d_ap, d_an, d_pn = _triplet_terms(a, p, n, distance, margin, swap)
    g = reduce_backward(grad_output, z.shape, reduction)
    with np.errstate(invalid="ignore"):
        g_hinge = np.where(z >= 0, g, 0.0)  # torch's clamp_min passes the gradient at z == 0; NaN stops it
    g_an, g_pn = -g_hinge, None
    if swap:
        # torch.minimum's backward: half each at a tie, all of it to both operands at NaN
        with np.errstate(invalid="ignore"):
            half = np.where(d_an == d_pn, -g_hinge / 2, -g_hinge)
            g_an, g_pn = np.where(d_an > d_pn, 0.0, half), np.where(d_an < d_pn, 0.0, half)
    grads = dict.fromkeys(("anchor", "positive", "negative"), 0.0)  # each a sum of terms, from 0
    pairs = [("anchor", "positive", a, p, g_hinge), ("anchor", "negative", a, n, g_an)]
    if swap:
        pairs.append(("positive", "negative", p, n, g_pn))
    for name1, name2, x1, x2, g_d in pairs:
        grad1, grad2 = distance.backward(g_d, x1, x2)
        grads[name1] = grads[name1] + unbroadcast(np.asarray(grad1, np.float64), x1.shape)
        grads[name2] = grads[name2] + unbroadcast(np.asarray(grad2, np.float64), x2.shape)
    return grads


def triplet_margin_loss(anchor, positive, negative, margin=1.0, p=2, eps=1e-6, swap=False, reduction="mean"):
    r"""Triplet margin loss with the p-norm distance of ``pairwise_distance``.

    .. math:: \ell = \max\big(\mathrm{margin} + d(a, p) - d_-,\ 0\big),\qquad
              d(x, y) = \lVert x - y + \varepsilon \rVert_p

    over the last dimension, with :math:`d_- = d(a, n)`, or
    :math:`\min(d(a, n), d(p, n))` when ``swap=True`` (the distance swap of Balntas et
    al., 2016). ``"mean"`` divides by the number of triplets (the broadcast shape without
    its last dimension; 1 for 1-D inputs).

    Shape:
        anchor, positive, negative: ``(D,)`` or ``(N, D)`` (any ``(*, D)``), all with the same
        number of dimensions and broadcastable against each other.
        output: ``()`` for 1-D inputs, else ``(N,)`` (``(*)``) if ``reduction="none"``; ``()`` otherwise.

    Torch behaviour:
        ``eps`` is added to every element of the difference before the norm, not to the
        norm; ``p`` is not validated (p = 0 counts non-zeros); an empty batch gives NaN
        (mean), 0 (sum) or an empty array (none).

    Raises:
        ValueError: unknown ``reduction``; ``margin <= 0``.
        RuntimeError: the inputs differ in number of dimensions or do not broadcast.

    Examples:
        >>> a, p, n = np.array([[0.0, 0.0]]), np.array([[3.0, 4.0]]), np.array([[6.0, 8.0]])
        >>> float(triplet_margin_loss(a, p, n, margin=6.0, eps=0.0))  # 6 + 5 - 10
        1.0
        >>> float(triplet_margin_loss(a, p, n, margin=6.0, eps=0.0, swap=True))  # d(p, n) = 5 < 10
        6.0
    """
    check_reduction(reduction)
    _check_triplet(anchor, positive, negative, margin)
    return _triplet_forward(anchor, positive, negative, _Pairwise(p, eps), margin, swap, reduction)


def triplet_margin_loss_backward(grad_output, anchor, positive, negative, margin=1.0, p=2, eps=1e-6, swap=False,
                                 reduction="mean"):
    r"""Gradients of ``triplet_margin_loss`` with respect to all three inputs.

    With :math:`z = \mathrm{margin} + d(a, p) - d_-` and :math:`s` the reduction's factor
    (:math:`g_n`, :math:`g`, or :math:`g/N` for mean), the hinge passes
    :math:`h = s\,[z \ge 0]` (torch's ``clamp_min`` passes it at :math:`z = 0` exactly), then

    .. math:: \frac{\partial L}{\partial a} = h\,\nabla_1 d(a, p) - h_{an}\,\nabla_1 d(a, n),\quad
              \frac{\partial L}{\partial p} = h\,\nabla_2 d(a, p) - h_{pn}\,\nabla_1 d(p, n),\quad
              \frac{\partial L}{\partial n} = -h_{an}\,\nabla_2 d(a, n) - h_{pn}\,\nabla_2 d(p, n)

    where :math:`h_{an} = h, h_{pn} = 0` without swap and, with swap, the minimum's
    gradient goes to the smaller distance, **half to each at a tie** (torch.minimum's
    rule), all of it to both when one is NaN. :math:`\nabla d` is the gradient of
    ``pairwise_distance`` (see ``pairwise_distance_backward``), summed over broadcast
    dimensions.

    Returns ``{"anchor": ..., "positive": ..., "negative": ...}``.

    Examples:
        >>> a, p, n = np.zeros((1, 2)), np.zeros((1, 2)), np.array([[1.0, 0.0]])
        >>> g = triplet_margin_loss_backward(np.float64(1.0), a, p, n, eps=0.0, swap=True)
        >>> g["anchor"].tolist(), g["positive"].tolist(), g["negative"].tolist()  # tie at the margin and in the swap
        ([[0.5, 0.0]], [[0.5, 0.0]], [[-1.0, 0.0]])
    """
    check_reduction(reduction)
    _check_triplet(anchor, positive, negative, margin)
    return _triplet_backward(grad_output, anchor, positive, negative, _Pairwise(p, eps), margin, swap, reduction)


def _distance(distance_function):
    return _Pairwise(2.0, 1e-6) if distance_function is None else distance_function


def triplet_margin_with_distance_loss(anchor, positive, negative, *, distance_function=None, margin=1.0, swap=False,
                                      reduction="mean"):
    r"""Triplet margin loss with any distance function.

    .. math:: \ell = \max\big(\mathrm{margin} + d(a, p) - d_-,\ 0\big),\qquad
              d_- = d(a, n) \text{, or } \min(d(a, n), d(p, n)) \text{ with swap}

    where :math:`d` is ``distance_function`` (called as ``d(x1, x2)`` on float64 arrays and
    returning one distance per triplet), by default ``pairwise_distance`` with p = 2 and
    eps = 1e-6, which makes this equal to ``triplet_margin_loss``. ``"mean"`` divides by
    the number of triplets.

    Shape:
        anchor, positive, negative: ``(D,)`` or ``(N, D)`` (any ``(*, D)``) with the same
        number of dimensions, broadcastable. output: the shape the distance returns if
        ``reduction="none"``, else ``()``.

    Torch behaviour:
        ``distance_function`` is keyword-only; the reduction is checked first, then the
        margin, then the number of dimensions.

    Raises:
        ValueError: unknown ``reduction``; ``margin <= 0``.
        RuntimeError: the inputs differ in number of dimensions or do not broadcast.

    Examples:
        >>> a, p, n = np.array([[0.0, 0.0]]), np.array([[3.0, 4.0]]), np.array([[6.0, 8.0]])
        >>> l1 = lambda x, y: np.sum(np.abs(x - y), axis=-1)
        >>> float(triplet_margin_with_distance_loss(a, p, n, distance_function=l1, margin=8.0))  # 8 + 7 - 14
        1.0
    """
    check_reduction(reduction)
    _check_triplet(anchor, positive, negative, margin)
    return _triplet_forward(anchor, positive, negative, _distance(distance_function), margin, swap, reduction)


def triplet_margin_with_distance_loss_backward(grad_output, anchor, positive, negative, *, distance_function=None,
                                               margin=1.0, swap=False, reduction="mean"):
    r"""Gradients of ``triplet_margin_with_distance_loss`` with respect to all three inputs.

    The chain rule of ``triplet_margin_loss_backward`` with :math:`\nabla d` taken from the
    distance: a user-supplied ``distance_function`` must therefore have a method
    ``backward(grad, x1, x2)`` returning the pair
    :math:`(\mathrm{grad}\cdot\partial d/\partial x_1,\ \mathrm{grad}\cdot\partial d/\partial x_2)`
    (in the broadcast shape or the inputs' shapes); a plain function has none, and is
    rejected with ``TypeError``. The default distance brings its own.

    Returns ``{"anchor": ..., "positive": ..., "negative": ...}``.

    Examples:
        >>> g = triplet_margin_with_distance_loss_backward(
        ...     np.float64(1.0), np.zeros((1, 2)), np.array([[3.0, 4.0]]), np.array([[6.0, 8.0]]), margin=6.0)
        >>> g["negative"].round(6).tolist()  # -(n - a) / ||n - a + eps||
        [[-0.6, -0.8]]
    """
    check_reduction(reduction)
    _check_triplet(anchor, positive, negative, margin)
    distance = _distance(distance_function)
    if not callable(getattr(distance, "backward", None)):
        raise TypeError("the gradient needs a distance_function with a backward(grad, x1, x2) method "
                        "returning the gradients with respect to x1 and x2")
    return _triplet_backward(grad_output, anchor, positive, negative, distance, margin, swap, reduction)
