"""The margin, embedding and ranking losses: multi_margin_loss, multilabel_margin_loss,
hinge_embedding_loss, margin_ranking_loss and cosine_embedding_loss.

Two kinds of hinge appear here, and torch treats them differently at NaN:

* the class-score kernels (``multi_margin_loss``, ``multilabel_margin_loss``) add a term
  only where ``z > 0``, strictly, so a NaN term is dropped and the gradient at the hinge is 0;
* the composite losses (``hinge_embedding_loss``, ``margin_ranking_loss``,
  ``cosine_embedding_loss``) clamp with ``clamp_min(z, 0)``, which propagates NaN and passes
  the gradient at the hinge (``z >= 0``).
"""

import numpy as np

from ._broadcast import broadcast_shape, unbroadcast
from ._reduction import check_reduction, reduce, reduce_backward

__all__ = [
    "multi_margin_loss",
    "multi_margin_loss_backward",
    "multilabel_margin_loss",
    "multilabel_margin_loss_backward",
    "hinge_embedding_loss",
    "hinge_embedding_loss_backward",
    "margin_ranking_loss",
    "margin_ranking_loss_backward",
    "cosine_embedding_loss",
    "cosine_embedding_loss_backward",
]

_TORCH_DTYPE_NAMES = {"float64": "Double", "float32": "Float", "float16": "Half", "int32": "Int",
                      "int16": "Short", "int8": "Char", "bool": "Bool", "uint8": "Byte", "int64": "Long"}

# torch's cosine_embedding_loss adds this to each squared norm: ATen's EPSILON is the
# float 1e-12, 9.999999960041972e-13 as a double, in every dtype (float64 included)
_COSINE_EPSILON = float(np.float32(1e-12))


def _torch_name(dtype):
    return _TORCH_DTYPE_NAMES.get(np.dtype(dtype).name, np.dtype(dtype).name)


def _check_long_target(target):
    if target.dtype != np.int64:
        raise RuntimeError(f"expected scalar type Long but found {_torch_name(target.dtype)}")


def _check_score_input(x):
    """The input check shared by the two class-score kernels: ``()``, ``(C,)`` or ``(N, C)``, ``C > 0``."""
    if x.ndim > 2 or (x.ndim >= 1 and x.shape[-1] == 0):
        raise RuntimeError("Expected non-empty vector or matrix with optional 0-dim batch size, "
                           f"but got: {list(x.shape)}")


# --- multi_margin_loss -------------------------------------------------------------------


def _multi_margin_terms(input, target, p, margin, weight):
    """Validate; return ``(x, y, w_y, hinge, out_shape)`` with ``x`` of shape ``(N, C)``.

    ``hinge[n, i]`` is ``z = margin - x[n, y_n] + x[n, i]`` where the term counts (``i != y_n``
    and ``z > 0``, strictly, so NaN terms are dropped) and 0 elsewhere.
    """
    if p not in (1, 2):
        raise ValueError("only p == 1 and p == 2 supported")
    if weight is not None and np.ndim(weight) != 1:
        raise ValueError("weight must be one-dimensional")
    x = np.asarray(input, dtype=np.float64)
    t = np.asarray(target)
    _check_score_input(x)
    n_samples = 1 if x.ndim <= 1 else x.shape[0]
    if t.ndim > 1 or t.size != n_samples:
        raise RuntimeError(
            "multi_margin_loss: target tensor should be 1-D with size equal to the number of input samples "
            f"(batch size). Expected target size [{n_samples}], but got {list(t.shape)}. "
            f"Input has shape {list(x.shape)}."
        )
    _check_long_target(t)
    n_classes = x.shape[-1] if x.ndim else 1
    x = x.reshape(n_samples, n_classes)
    if weight is not None and np.shape(weight)[0] != n_classes:
        raise RuntimeError(f"inconsistent weight size, expected {n_classes} but got {list(np.shape(weight))}")
    y = t.reshape(n_samples)
    if ((y < 0) | (y >= n_classes)).any():
        raise RuntimeError("target out of range")
    w = np.ones(n_classes) if weight is None else np.asarray(weight, dtype=np.float64)
    x_y = np.take_along_axis(x, y[:, None], axis=1)
    hinge = np.fmax(margin - x_y + x, 0.0)  # the kernel's strict z > 0: fmax drops NaN terms too
    np.put_along_axis(hinge, y[:, None], 0.0, axis=1)  # no term for the target class itself
    # (N,) for a 1-D target, else (): torch keys the unreduced shape on the target
    out_shape = (n_samples,) if t.ndim > 0 else ()
    return x, y, w[y], hinge, out_shape


def multi_margin_loss(input, target, p=1, margin=1.0, weight=None, reduction="mean"):
    r"""Multi-class hinge loss of the target score against every other class score.

    .. math:: \ell_n = \frac{1}{C} \sum_{i \ne y_n} w_{y_n} \max(0,\ \mathrm{margin} - x_{n, y_n} + x_{n,i})^p

    with :math:`p \in \{1, 2\}` and :math:`w` = ``weight`` (ones when ``None``), indexed by
    the **target** class and applied after the power. The division by :math:`C` belongs to
    every sample, whatever the reduction: ``"sum"`` is :math:`\sum_n \ell_n`, not the sum
    of the hinge terms. ``"mean"`` divides by the number of samples :math:`N`.

    Shape:
        input: ``()``, ``(C,)`` or ``(N, C)`` with ``C > 0``.
        target: ``(N,)`` int64 in ``[0, C)``; ``()`` or ``(1,)`` for an unbatched input.
        weight: ``(C,)``.
        output: ``(N,)`` if ``reduction="none"`` (``()`` when ``target`` is 0-D), else ``()``.

    Torch behaviour:
        a term counts only where ``margin - x_y + x_i > 0`` strictly, so a NaN term is
        dropped (a NaN score gives 0, not NaN); any margin, including a negative one, is
        accepted; an empty batch with ``"mean"`` or ``"sum"`` returns uninitialized memory
        on the CPU (a bug: see ``known_divergences/margin.toml``) where this returns NaN and 0.

    Raises:
        ValueError: unknown ``reduction``; ``p`` not 1 or 2; ``weight`` not 1-D.
        RuntimeError: input not ``()``, ``(C,)`` or ``(N, C)`` with ``C > 0``; target of the
            wrong size or not int64; ``weight`` not of length ``C``; a target outside ``[0, C)``.

    Examples:
        >>> x = np.array([[0.1, 0.2, 0.4, 0.8]])
        >>> round(float(multi_margin_loss(x, np.array([3]))), 6)  # (0.3 + 0.4 + 0.6) / 4
        0.325
        >>> round(float(multi_margin_loss(x, np.array([3]), p=2)), 6)  # (0.09 + 0.16 + 0.36) / 4
        0.1525
        >>> round(float(multi_margin_loss(x, np.array([3]), weight=np.array([1.0, 1.0, 1.0, 2.0]))), 6)
        0.65
    """
    check_reduction(reduction)
    _, _, w_y, hinge, out_shape = _multi_margin_terms(input, target, p, margin, weight)
    losses = w_y * np.sum(hinge if p == 1 else hinge * hinge, axis=1) / hinge.shape[1]
    return reduce(losses.reshape(out_shape), reduction)


def multi_margin_loss_backward(grad_output, input, target, p=1, margin=1.0, weight=None, reduction="mean"):
    r"""Gradient of ``multi_margin_loss`` with respect to ``input``.

    With :math:`s_n` the reduction's factor (:math:`g_n`, :math:`g` or :math:`g/N`) and
    :math:`z_{n,i} = \mathrm{margin} - x_{n,y_n} + x_{n,i}`:

    .. math:: \frac{\partial L}{\partial x_{n,i}} = h_{n,i} = \frac{s_n w_{y_n}}{C}
              \begin{cases} 1 & p = 1 \\ 2 z_{n,i} & p = 2 \end{cases}
              \quad (i \ne y_n,\ z_{n,i} > 0),\qquad
              \frac{\partial L}{\partial x_{n,y_n}} = -\sum_{i \ne y_n} h_{n,i}

    and 0 for the other terms: exactly 0 at the hinge :math:`z = 0`, as in torch's kernel.

    Returns ``{"input": gradient}`` of the input's shape.

    Examples:
        >>> g = multi_margin_loss_backward(np.float64(1.0), np.array([[1.0, 0.0, 0.5]]), np.array([0]))
        >>> g["input"].round(4).tolist()  # z = 0 for class 1: no gradient there
        [[-0.3333, 0.0, 0.3333]]
    """
    x, y, w_y, hinge, out_shape = _multi_margin_terms(input, target, p, margin, weight)
    s = reduce_backward(grad_output, out_shape, reduction).reshape(-1)
    h = (hinge > 0 if p == 1 else 2 * hinge) * (w_y / x.shape[1])[:, None]
    h *= s[:, None]
    np.put_along_axis(h, y[:, None], -np.sum(h, axis=1, keepdims=True), axis=1)  # h is 0 at the target
    return {"input": h.reshape(np.shape(input))}


# --- multilabel_margin_loss --------------------------------------------------------------


def _multilabel_terms(input, target):
    """Validate; return ``(x, rows, labels, others, out_shape)``.

    ``x`` is ``(N, C)``. The label slots are the entries of each target row before its first
    -1 (a label listed twice has two slots): slot k is label ``labels[k]`` of sample
    ``rows[k]``, in row order. ``others`` is ``x`` with -inf at each sample's labels, the
    classes that are never the non-label ``i`` of a term.
    """
    x = np.asarray(input, dtype=np.float64)
    t = np.asarray(target)
    _check_score_input(x)
    n_classes = 1 if x.ndim == 0 else x.shape[-1]
    if x.ndim <= 1:
        consistent = t.ndim <= 1 and t.size == n_classes
    else:
        consistent = t.shape == x.shape
    if not consistent:
        raise RuntimeError(f"inconsistent target size: {list(t.shape)} for input of size: {list(x.shape)}")
    _check_long_target(t)
    if t.size and (t.min() < -1 or t.max() >= n_classes):  # every entry, even after the first -1
        raise RuntimeError("argument #2 'target' is out of range")
    x = x.reshape(-1, n_classes)
    t = t.reshape(-1, n_classes)
    before_end = np.logical_and.accumulate(t != -1, axis=1)  # a label counts only before the first -1
    rows = np.repeat(np.arange(len(t)), np.count_nonzero(before_end, axis=1))
    labels = t[before_end]
    others = x.copy()
    others.reshape(-1)[rows * n_classes + labels] = -np.inf  # so a label's own term is -inf (or NaN): never counted
    return x, rows, labels, others, (() if np.ndim(input) <= 1 else (x.shape[0],))


_TERMS_PER_BLOCK = 1 << 16  # the terms of a block of label slots fit in the cache


def _hinge_blocks(x, rows, labels, others):
    """Yield ``(k, z)`` for consecutive blocks ``k`` (slices) of label slots, where
    ``z[k, i] = 1 - x[n, j] + x[n, i]`` for the slot's sample n and label j and every class i
    (-inf or NaN where i is a label of n)."""
    margin = 1.0 - x.reshape(-1)[rows * x.shape[1] + labels]
    step = max(1, _TERMS_PER_BLOCK // x.shape[1])
    for start in range(0, len(rows), step):
        k = slice(start, start + step)
        yield k, margin[k, None] + others[rows[k]]


def multilabel_margin_loss(input, target, reduction="mean"):
    r"""Multi-label hinge loss: every label's score against every non-label class score.

    With :math:`Y_n` the labels of sample n, the entries of ``target[n]`` before its first
    -1 (a list: a repeated label counts once per occurrence):

    .. math:: \ell_n = \frac{1}{C} \sum_{j \in Y_n} \sum_{i \notin Y_n} \max(0,\ 1 - x_{n,j} + x_{n,i})

    ``"mean"`` divides by the number of samples :math:`N`; the division by :math:`C` belongs
    to every sample, whatever the reduction.

    Shape:
        input: ``()``, ``(C,)`` or ``(N, C)`` with ``C > 0``.
        target: the input's shape, int64 in ``[-1, C)``, each row padded with -1 (``()`` or
        ``(1,)`` for a 0-D input).
        output: ``(N,)`` if ``reduction="none"`` and the input is ``(N, C)``, else ``()``.

    Torch behaviour:
        every target entry is range-checked, also those after the first -1, which are
        otherwise ignored; a term counts only where ``1 - x_j + x_i > 0`` strictly, so a NaN
        term is dropped; an empty batch with ``"mean"`` or ``"sum"`` returns uninitialized
        memory on the CPU (a bug: see ``known_divergences/margin.toml``).

    Raises:
        ValueError: unknown ``reduction``.
        RuntimeError: input not ``()``, ``(C,)`` or ``(N, C)`` with ``C > 0``; target not of
            the input's shape or not int64; a target entry outside ``[-1, C)``.

    Examples:
        >>> x = np.array([0.1, 0.2, 0.4, 0.8])
        >>> round(float(multilabel_margin_loss(x, np.array([3, 0, -1, 1]))), 6)
        0.85
        >>> round(float(multilabel_margin_loss(x, np.array([3, -1, 0, 1]))), 6)  # (0.3 + 0.4 + 0.6) / 4
        0.325
        >>> round(float(multilabel_margin_loss(x, np.array([3, 3, -1, 0]))), 6)  # label 3 twice
        0.65
    """
    check_reduction(reduction)
    x, rows, labels, others, out_shape = _multilabel_terms(input, target)
    per_slot = np.zeros(len(rows))
    for k, z in _hinge_blocks(x, rows, labels, others):
        per_slot[k] = np.sum(np.fmax(z, 0.0, out=z), axis=1)  # the kernel's strict z > 0: fmax drops NaN too
    losses = np.bincount(rows, weights=per_slot, minlength=x.shape[0]) / x.shape[1]
    return reduce(losses.reshape(out_shape), reduction)


def multilabel_margin_loss_backward(grad_output, input, target, reduction="mean"):
    r"""Gradient of ``multilabel_margin_loss`` with respect to ``input``.

    With :math:`s_n` the reduction's factor and :math:`[\cdot]` the terms that count
    (:math:`j \in Y_n`, :math:`i \notin Y_n`, :math:`1 - x_{n,j} + x_{n,i} > 0`):

    .. math:: \frac{\partial L}{\partial x_{n,i}} = \frac{s_n}{C} \sum_{j \in Y_n} [j, i],\qquad
              \frac{\partial L}{\partial x_{n,j}} = -\frac{s_n}{C} \sum_{i \notin Y_n} [j, i]

    A label listed twice contributes twice; the gradient is 0 at the hinge, as in torch.

    Returns ``{"input": gradient}`` of the input's shape.

    Examples:
        >>> g = multilabel_margin_loss_backward(np.float64(1.0), np.array([1.0, 0.0, 0.5]), np.array([2, 2, -1]))
        >>> g["input"].round(4).tolist()
        [0.6667, 0.6667, -1.3333]
    """
    x, rows, labels, others, out_shape = _multilabel_terms(input, target)
    s = reduce_backward(grad_output, out_shape, reduction).reshape(-1) / x.shape[1]
    to_nonlabel = np.zeros(x.shape)  # (N, C): terms where class i is the non-label
    per_label = np.zeros(len(rows))  # terms of each label slot
    for k, z in _hinge_blocks(x, rows, labels, others):
        counted = z > 0  # the kernel's strict z > 0
        per_label[k] = np.sum(counted, axis=1)
        samples = rows[k]
        first = np.flatnonzero(np.r_[True, samples[1:] != samples[:-1]])  # each sample's first slot here
        to_nonlabel[samples[first]] += np.add.reduceat(counted, first, axis=0)
    # (N, C): terms of each class as a label, a label listed twice getting both slots' terms
    to_label = np.bincount(rows * x.shape[1] + labels, weights=per_label, minlength=x.size).reshape(x.shape)
    grad = (to_nonlabel - to_label) * s[:, None]
    return {"input": grad.reshape(np.shape(input))}


# --- hinge_embedding_loss ----------------------------------------------------------------


def _hinge_embedding_parts(input, target, margin):
    x = np.asarray(input, dtype=np.float64)
    y = np.asarray(target, dtype=np.float64)
    shape = broadcast_shape(y.shape, x.shape)  # silently, as torch does; target first, as in its where()
    x, y = np.broadcast_to(x, shape), np.broadcast_to(y, shape)
    # torch writes the two terms as "y != 1" and "y != -1": any other y gets both
    return x, y != 1, y != -1, margin - x


def hinge_embedding_loss(input, target, margin=1.0, reduction="mean"):
    r"""Hinge embedding loss: the input itself for similar pairs, a hinge for dissimilar ones.

    .. math:: \ell_n = [y_n \ne 1] \max(0,\ \mathrm{margin} - x_n) + [y_n \ne -1]\, x_n

    which is :math:`x_n` for :math:`y_n = 1` and :math:`\max(0, \mathrm{margin} - x_n)` for
    :math:`y_n = -1`. ``"mean"`` divides by the number of elements of the broadcast shape.

    Shape:
        input: any shape ``(*)``.
        target: broadcastable with ``input``, values normally 1 or -1.
        output: the broadcast shape if ``reduction="none"``, else ``()``.

    Torch behaviour:
        a target other than 1 and -1 (0, 2, NaN ...) gets **both** terms; the loss for
        ``y = 1`` is ``x`` itself and may be negative; the clamp propagates NaN; the target is
        broadcast silently; the gradient at ``x = margin`` (``y = -1``) is -1, not 0.

    Raises:
        ValueError: unknown ``reduction``.
        RuntimeError: shapes that do not broadcast.

    Examples:
        >>> x = np.array([0.5, 0.5, 0.5, 1.5])
        >>> hinge_embedding_loss(x, np.array([1.0, -1.0, 0.0, -1.0]), reduction="none").tolist()
        [0.5, 0.5, 1.0, 0.0]
    """
    check_reduction(reduction)
    x, not_pos, not_neg, gap = _hinge_embedding_parts(input, target, margin)
    losses = np.where(not_pos, np.maximum(gap, 0.0), 0.0) + np.where(not_neg, x, 0.0)
    return reduce(losses, reduction)


def hinge_embedding_loss_backward(grad_output, input, target, margin=1.0, reduction="mean"):
    r"""Gradient of ``hinge_embedding_loss`` with respect to ``input``.

    .. math:: \frac{\partial L}{\partial x_n} = s_n \big([y_n \ne -1] - [y_n \ne 1][\mathrm{margin} - x_n \ge 0]\big)

    with :math:`s_n` the reduction's factor; summed over the dimensions along which the
    input was broadcast. The hinge passes the gradient at equality (``clamp_min``).

    Returns ``{"input": gradient}`` of the input's shape.

    Examples:
        >>> g = hinge_embedding_loss_backward(np.float64(1.0), np.array([1.0, 0.5]), np.array([-1.0, 1.0]),
        ...                                   reduction="sum")
        >>> g["input"].tolist()
        [-1.0, 1.0]
    """
    _, not_pos, not_neg, gap = _hinge_embedding_parts(input, target, margin)
    s = reduce_backward(grad_output, gap.shape, reduction)
    grad = np.where(not_neg, s, 0.0) - np.where(not_pos & (gap >= 0), s, 0.0)
    return {"input": unbroadcast(grad, np.shape(input))}


# --- margin_ranking_loss -----------------------------------------------------------------


def _check_same_ndim(input1, input2, target):
    if not np.ndim(input1) == np.ndim(input2) == np.ndim(target):
        raise RuntimeError(
            "margin_ranking_loss : All input tensors should have same dimension but got sizes: "
            f"input1: {list(np.shape(input1))}, input2: {list(np.shape(input2))}, target: {list(np.shape(target))} "
        )


def _ranking_parts(input1, input2, target, margin):
    _check_same_ndim(input1, input2, target)
    x1, x2, y = (np.asarray(a, dtype=np.float64) for a in (input1, input2, target))
    broadcast_shape(y.shape, broadcast_shape(x1.shape, x2.shape))  # torch: -target * (input1 - input2)
    diff = x1 - x2
    return diff, y, -y * diff + margin


def margin_ranking_loss(input1, input2, target, margin=0, reduction="mean"):
    r"""Ranking hinge: ``input1`` should rank above ``input2`` where ``y = 1``, below where ``y = -1``.

    .. math:: \ell_n = \max(0,\ -y_n (x_{1,n} - x_{2,n}) + \mathrm{margin})

    ``"mean"`` divides by the number of elements of the broadcast shape.

    Shape:
        input1, input2, target: the same number of dimensions, broadcastable to each other.
        output: the broadcast shape if ``reduction="none"``, else ``()``.

    Torch behaviour:
        the clamp propagates NaN and passes the gradient at the hinge (``z = 0``: gradient
        :math:`-y` for ``input1``); the target is differentiable and not checked to be ±1.

    Raises:
        ValueError: unknown ``reduction``.
        RuntimeError: arguments with different numbers of dimensions; shapes that do not broadcast.

    Examples:
        >>> margin_ranking_loss(np.array([1.0, 2.0]), np.array([2.0, 1.0]), np.array([1.0, 1.0]),
        ...                     reduction="none").tolist()
        [1.0, 0.0]
        >>> float(margin_ranking_loss(np.array([1.0, 2.0]), np.array([2.0, 1.0]), np.array([1.0, -1.0]), margin=0.5))
        1.5
    """
    check_reduction(reduction)
    *_, z = _ranking_parts(input1, input2, target, margin)
    return reduce(np.maximum(z, 0.0), reduction)


def margin_ranking_loss_backward(grad_output, input1, input2, target, margin=0, reduction="mean"):
    r"""Gradients of ``margin_ranking_loss`` with respect to ``input1``, ``input2`` and ``target``.

    With :math:`G_n = s_n [z_n \ge 0]`, :math:`z_n = -y_n (x_{1,n} - x_{2,n}) + \mathrm{margin}`:

    .. math:: \frac{\partial L}{\partial x_{1,n}} = -y_n G_n,\qquad
              \frac{\partial L}{\partial x_{2,n}} = y_n G_n,\qquad
              \frac{\partial L}{\partial y_n} = -(x_{1,n} - x_{2,n}) G_n

    each summed over the dimensions along which its argument was broadcast. The products
    are taken unmasked, as torch's autograd does, so ``0 * inf`` gives NaN there.

    Returns ``{"input1": ..., "input2": ..., "target": ...}``.

    Examples:
        >>> g = margin_ranking_loss_backward(np.float64(1.0), np.array([0.5]), np.array([0.5]), np.array([-1.0]),
        ...                                  reduction="sum")  # on the hinge: the gradient passes
        >>> g["input1"].tolist(), g["input2"].tolist(), g["target"].tolist()
        ([1.0], [-1.0], [-0.0])
    """
    diff, y, z = _ranking_parts(input1, input2, target, margin)
    grad_z = np.where(z >= 0, reduce_backward(grad_output, z.shape, reduction), 0.0)
    grad_diff = grad_z * -y
    return {
        "input1": unbroadcast(grad_diff, np.shape(input1)),
        "input2": unbroadcast(-grad_diff, np.shape(input2)),
        # torch negates the target before the product, so the sign comes after the sum: -(+0.0) is -0.0
        "target": -unbroadcast(grad_z * diff, np.shape(target)),
    }


# --- cosine_embedding_loss ---------------------------------------------------------------


def _cosine_parts(input1, input2, target):
    a = np.asarray(input1, dtype=np.float64)
    b = np.asarray(input2, dtype=np.float64)
    y = np.asarray(target, dtype=np.float64)
    if y.ndim == 1 and not (a.ndim == 2 and b.ndim == 2):
        raise RuntimeError(f"1D target tensor expects 2D input tensors, but found inputs with sizes "
                           f"{list(a.shape)} and {list(b.shape)}.")
    if y.ndim == 0 and not (a.ndim == 1 and b.ndim == 1):
        raise RuntimeError(f"0D target tensor expects 1D input tensors, but found inputs with sizes "
                           f"{list(a.shape)} and {list(b.shape)}.")
    if y.ndim > 1:
        raise RuntimeError("0D or 1D target tensor expected, multi-target not supported")
    shape = broadcast_shape(a.shape, b.shape)
    a, b = np.broadcast_to(a, shape), np.broadcast_to(b, shape)
    dot = np.sum(a * b, axis=-1)
    s1 = np.sum(a * a, axis=-1) + _COSINE_EPSILON
    s2 = np.sum(b * b, axis=-1) + _COSINE_EPSILON
    denom = np.sqrt(s1 * s2)  # torch: the product of the two squared norms, then one sqrt
    with np.errstate(divide="ignore", invalid="ignore"):
        cos = dot / denom
    broadcast_shape(y.shape, cos.shape)
    return a, b, y, dot, s1, s2, denom, cos


def cosine_embedding_loss(input1, input2, target, margin=0, reduction="mean"):
    r"""Cosine embedding loss: pull similar pairs to cosine 1, push dissimilar ones below ``margin``.

    .. math:: \cos_n = \frac{\sum_d a_{n,d} b_{n,d}}{\sqrt{(\sum_d a_{n,d}^2 + \epsilon)(\sum_d b_{n,d}^2 + \epsilon)}},
              \quad \epsilon = \mathrm{float32}(10^{-12})

    .. math:: \ell_n = \begin{cases} 1 - \cos_n & y_n = 1 \\ \max(0,\ \cos_n - \mathrm{margin}) & y_n = -1
              \\ 0 & \text{otherwise} \end{cases}

    ``"mean"`` divides by the number of pairs :math:`N` (of the broadcast shape).

    Shape:
        input1, input2: ``(N, D)`` (broadcastable to each other) with target ``(N,)``, or
        ``(D,)`` with a 0-D target.
        output: ``(N,)`` if ``reduction="none"`` (``()`` unbatched), else ``()``.

    Torch behaviour:
        :math:`\epsilon` is the float32 value nearest :math:`10^{-12}`
        (9.999999960041972e-13), also in float64, added to each squared norm inside one square
        root, so a zero vector gives :math:`\cos = 0` and vectors of norm near :math:`10^{-6}`
        have a cosine visibly below 1; a target other than ±1 gives 0; the clamp propagates NaN and passes
        the gradient at ``cos = margin``; the target may broadcast along the batch.

    Raises:
        ValueError: unknown ``reduction``.
        RuntimeError: shapes that do not broadcast; a 1-D target with inputs that are not 2-D, a 0-D target with inputs
            that are not 1-D, or a target of more than one dimension.

    Examples:
        >>> a, b = np.array([[1.0, 0.0], [1.0, 1.0]]), np.array([[1.0, 0.0], [1.0, -1.0]])
        >>> cosine_embedding_loss(a, b, np.array([1.0, 1.0]), reduction="none").round(6).tolist()
        [0.0, 1.0]
        >>> cosine_embedding_loss(a, a, np.array([-1.0, 0.0]), margin=0.5, reduction="none").round(6).tolist()
        [0.5, 0.0]
    """
    check_reduction(reduction)
    *_, y, _, _, _, _, cos = _cosine_parts(input1, input2, target)
    cos, y = np.broadcast_arrays(cos, y)
    losses = np.where(y == 1, 1 - cos, 0.0) + np.where(y == -1, np.maximum(cos - margin, 0.0), 0.0)
    return reduce(losses, reduction)


def cosine_embedding_loss_backward(grad_output, input1, input2, target, margin=0, reduction="mean"):
    r"""Gradients of ``cosine_embedding_loss`` with respect to ``input1`` and ``input2``.

    With :math:`S_1 = \sum a^2 + \epsilon`, :math:`S_2 = \sum b^2 + \epsilon`,
    :math:`D = \sqrt{S_1 S_2}` and :math:`G_n = s_n(-[y_n = 1] + [y_n = -1][\cos_n - \mathrm{margin} \ge 0])`
    the gradient reaching :math:`\cos_n`:

    .. math:: \frac{\partial L}{\partial a_{n,d}}
              = G_n \Big(\frac{b_{n,d}}{D_n} - \frac{\cos_n\, a_{n,d}}{S_{1,n}}\Big),\qquad
              \frac{\partial L}{\partial b_{n,d}} = G_n \Big(\frac{a_{n,d}}{D_n} - \frac{\cos_n\, b_{n,d}}{S_{2,n}}\Big)

    computed along torch's chain (division, square root of the product, sums of squares),
    so NaN and inf propagate as they do there; summed over broadcast dimensions. The target
    gets no gradient in torch (it enters only through comparisons).

    Returns ``{"input1": ..., "input2": ...}``.

    Examples:
        >>> g = cosine_embedding_loss_backward(np.float64(1.0), np.array([[1.0, 1.0]]), np.array([[1.0, -1.0]]),
        ...                                    np.array([-1.0]), reduction="sum")  # cos = margin: passes
        >>> g["input1"].round(6).tolist(), g["input2"].round(6).tolist()
        ([[0.5, -0.5]], [[0.5, 0.5]])
    """
    a, b, y, dot, s1, s2, denom, cos = _cosine_parts(input1, input2, target)
    shape = np.broadcast_shapes(cos.shape, y.shape)
    s = reduce_backward(grad_output, shape, reduction)
    y = np.broadcast_to(y, shape)
    grad_cos = np.where(y == 1, -s, 0.0) + np.where((y == -1) & (cos - margin >= 0), s, 0.0)
    grad_cos = unbroadcast(grad_cos, cos.shape)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        grad_dot = grad_cos / denom
        grad_denom = -grad_cos * (cos / denom)
        grad_product = grad_denom / (2 * denom)  # through sqrt(s1 * s2)
        grad_a = grad_dot[..., None] * b + (grad_product * s2)[..., None] * 2 * a
        grad_b = grad_dot[..., None] * a + (grad_product * s1)[..., None] * 2 * b
    return {"input1": unbroadcast(grad_a, np.shape(input1)), "input2": unbroadcast(grad_b, np.shape(input2))}
