"""nll_loss and cross_entropy: the class-index and class-probability losses.

Layout shared by both: the class dimension is dim 0 of an unbatched ``(C,)`` input and
dim 1 otherwise, ``(N, C)`` or ``(N, C, d_1, ..., d_K)``. The code moves it last, so every
formula below reads with the class index ``c`` as the last axis.
"""

import numpy as np

from ._reduction import check_reduction, reduce, reduce_backward
from .softmaxes import _log_softmax_and_softmax, log_softmax, resolve_dim, softmax

__all__ = [
    "nll_loss",
    "nll_loss_backward",
    "cross_entropy",
    "cross_entropy_backward",
]

_INDEX_DTYPES = (np.dtype(np.int64), np.dtype(np.uint8))  # torch: "Long or Byte"
_TORCH_DTYPE_NAMES = {"float64": "Double", "float32": "Float", "float16": "Half", "int32": "Int",
                      "int16": "Short", "int8": "Char", "bool": "Bool", "uint8": "Byte", "int64": "Long"}


def _torch_name(dtype):
    return _TORCH_DTYPE_NAMES.get(np.dtype(dtype).name, np.dtype(dtype).name)


def _class_axis(ndim):
    return 0 if ndim == 1 else 1


def _check_class_index_target(input, target, weight):
    """The checks torch's ``nll_loss_nd`` makes, in its order and with its exception classes."""
    if input.ndim < 1:
        raise ValueError(f"Expected 1 or more dimensions (got {input.ndim})")
    if input.ndim != 1:
        target_batch = target.shape[0] if target.ndim else 0
        if input.shape[0] != target_batch:
            raise ValueError(
                f"Expected input batch_size ({input.shape[0]}) to match target batch_size ({target_batch})."
            )
    if input.ndim <= 2:
        if target.ndim > 1:
            raise RuntimeError("0D or 1D target tensor expected, multi-target not supported")
        if input.ndim == 1 and target.ndim == 1 and target.shape[0] != 1:
            raise ValueError(f"For 1D input, 1D target must have size 1, but got target size: {target.shape[0]}")
    else:
        expected = (input.shape[0],) + input.shape[2:]
        if target.shape != expected:
            raise RuntimeError(f"Expected target size {list(expected)}, got {list(target.shape)}")
    if target.dtype not in _INDEX_DTYPES:
        raise RuntimeError(f"expected target dtype to be Long or Byte, but got {_torch_name(target.dtype)}")
    n_classes = input.shape[_class_axis(input.ndim)]
    if weight is not None and (weight.ndim != 1 or weight.shape[0] != n_classes):
        raise RuntimeError(
            f"weight tensor should be defined either for all {n_classes} classes or no classes "
            f"but got weight tensor of shape: {list(weight.shape)}"
        )


def _class_index_terms(input, target, weight, ignore_index):
    """Validate, then return ``(logp, kept, y, w, w_y)`` with classes on the last axis.

    ``logp`` is the input with classes last; ``kept`` marks targets that are not
    ``ignore_index``; ``y`` is the target with ignored entries replaced by class 0 (any
    valid index: every use is masked by ``kept``); ``w`` is the class-weight vector and
    ``w_y`` the weight of each target, 0 where ignored.
    """
    x = np.asarray(input, dtype=np.float64)
    t = np.asarray(target)
    w = None if weight is None else np.asarray(weight, dtype=np.float64)
    _check_class_index_target(x, t, w)
    logp = np.moveaxis(x, _class_axis(x.ndim), -1)
    n_classes = logp.shape[-1]
    if x.ndim == 1:
        t = t.reshape(())  # a 1-D input takes a () or (1,) target
    t = t.astype(np.int64)
    kept = t != ignore_index
    bad = kept & ((t < 0) | (t >= n_classes))
    if bad.any():
        raise IndexError(f"Target {t[bad].flat[0]} is out of bounds.")
    w = np.ones(n_classes) if w is None else w
    y = np.where(kept, t, 0)
    w_y = np.where(kept, w[y], 0.0) if n_classes else np.zeros(t.shape)
    return logp, kept, y, w, w_y


def _pick(logp, y):
    """``logp[..., y]`` elementwise: the value at each target's class."""
    if logp.shape[-1] == 0:
        return np.zeros(y.shape)
    return np.take_along_axis(logp, y[..., None], axis=-1)[..., 0]


def _log_softmax_at(logits, y):
    """``log_softmax(logits, -1)`` at each target's class, without the full array:
    ``(x_y - m) - log sum_c exp(x_c - m)``, the same arithmetic."""
    if logits.shape[-1] == 0:
        return np.zeros(y.shape)
    shifted = logits - np.max(logits, axis=-1, keepdims=True)
    shifted_y = _pick(shifted, y)
    return shifted_y - np.log(np.sum(np.exp(shifted, out=shifted), axis=-1))


def _scatter(shape, y, values):
    """An array of ``shape`` (classes last) holding ``values`` at each target's class, 0 elsewhere."""
    out = np.zeros(shape)
    if shape[-1]:
        np.put_along_axis(out, y[..., None], values[..., None], axis=-1)
    return out


def nll_loss(input, target, weight=None, ignore_index=-100, reduction="mean"):
    r"""Negative log-likelihood of the target class, given log-probabilities.

    .. math:: \ell_n = -w_{y_n}\, x_{n, y_n},\qquad \ell_n = 0 \text{ where } y_n = \mathrm{ignore\_index}

    with :math:`w = \mathrm{weight}` (all ones when ``None``) and :math:`n` running over
    the batch and every spatial position. ``"mean"`` divides by the total weight of the
    targets that are not ignored, :math:`\sum_{n: y_n \ne \mathrm{ignore\_index}} w_{y_n}`,
    not by N; ``"sum"`` adds the :math:`\ell_n`.

    Shape:
        input: ``(C,)``, ``(N, C)`` or ``(N, C, d_1, ..., d_K)``.
        target: ``()`` (or ``(1,)``) for a ``(C,)`` input, else ``(N,)`` or ``(N, d_1, ..., d_K)``;
        integer (int64 or uint8), each in ``[0, C)`` or equal to ``ignore_index``.
        weight: ``(C,)``.
        output: the shape of ``target`` (``()`` for a ``(C,)`` input) if ``reduction="none"``, else ``()``.

    Torch behaviour:
        every target ignored with ``"mean"`` gives NaN (0 / 0), as do all-zero weights;
        ``ignore_index`` may lie outside ``[0, C)`` and is then never range-checked; an
        empty batch gives NaN (mean), 0 (sum) or an empty array (none); a non-finite input
        at an ignored position does not reach the loss.

    Raises:
        ValueError: unknown ``reduction``; 0-D input; batch sizes differ; a 1-D target of
            size other than 1 for a 1-D input.
        RuntimeError: target of the wrong shape or of a non-integer dtype; ``weight`` not of
            shape ``(C,)``.
        IndexError: a target outside ``[0, C)`` that is not ``ignore_index``.

    Examples:
        >>> logp = np.log([[0.25, 0.75], [0.5, 0.5]])
        >>> round(float(nll_loss(logp, np.array([1, 0]))), 6)
        0.490415
        >>> round(float(nll_loss(logp, np.array([1, -100]))), 6)  # mean over the one kept target
        0.287682
        >>> float(nll_loss(logp, np.array([-100, -100])))
        nan
    """
    check_reduction(reduction)
    logp, kept, y, w, w_y = _class_index_terms(input, target, weight, ignore_index)
    losses = np.where(kept, -w_y * _pick(logp, y), 0.0)
    return reduce(losses, reduction, mean_denominator=np.sum(w_y))


def nll_loss_backward(grad_output, input, target, weight=None, ignore_index=-100, reduction="mean"):
    r"""Gradient of ``nll_loss`` with respect to ``input``.

    .. math:: \frac{\partial L}{\partial x_{n,c}} = -[c = y_n]\, w_{y_n}\, s_n,\qquad
              s_n = g_n \text{ (none)},\ g \text{ (sum)},\ g / \textstyle\sum_m w_{y_m} \text{ (mean)}

    and 0 in every row whose target is ignored. With every target ignored and ``"mean"``
    the gradient is 0 (no kept row), while all-zero weights give NaN at each kept target
    (:math:`-0 \cdot g/0`), as in torch.

    Returns ``{"input": gradient}`` of the input's shape.

    Examples:
        >>> g = nll_loss_backward(np.float64(1.0), np.zeros((3, 3)), np.array([0, 1, -100]),
        ...                       weight=np.array([1.0, 2.0, 3.0]))
        >>> g["input"].round(4).tolist()
        [[-0.3333, 0.0, 0.0], [0.0, -0.6667, 0.0], [0.0, 0.0, 0.0]]
    """
    logp, kept, y, w, w_y = _class_index_terms(input, target, weight, ignore_index)
    s = reduce_backward(grad_output, kept.shape, reduction, mean_denominator=np.sum(w_y))
    with np.errstate(invalid="ignore"):  # -0 * inf is torch's NaN for all-zero weights
        grad = _scatter(logp.shape, y, np.where(kept, -w_y * s, 0.0))
    x = np.asarray(input)
    return {"input": np.moveaxis(grad, -1, _class_axis(x.ndim))}


def _check_label_smoothing(label_smoothing):
    # torch checks only ``label_smoothing <= 1``; the documented domain is [0, 1]
    # (negative values are silently treated as 0 by torch: see known_divergences.toml).
    if not 0.0 <= label_smoothing <= 1.0:
        raise RuntimeError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")


def _check_probability_target(input, target, weight, ignore_index):
    if not np.issubdtype(target.dtype, np.floating):
        raise RuntimeError(
            f"Expected floating point type for target with class probabilities, got {_torch_name(target.dtype)}"
        )
    if ignore_index >= 0:  # torch rejects only non-negative values; negative ones are inert
        raise RuntimeError("ignore_index is not supported for floating point target")
    if input.ndim == 0:
        raise IndexError("Dimension specified as 1 but tensor has no dimensions")
    n_classes = input.shape[_class_axis(input.ndim)]
    if weight is not None and (weight.ndim != 1 or weight.shape[0] != n_classes):
        raise RuntimeError(
            f"cross_entropy: weight tensor should be defined either for all {n_classes} classes "
            f"or no classes but got weight tensor of shape: {list(weight.shape)}"
        )


def _is_probability_target(input, target):
    # torch dispatches on shape alone: a target of the input's shape holds probabilities
    return np.shape(input) == np.shape(target)


def cross_entropy(input, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    r"""Cross entropy between the softmax of ``input`` (logits) and the target.

    With :math:`p = \mathrm{log\_softmax}(x)` over the class dimension, :math:`C` classes,
    :math:`\varepsilon` = ``label_smoothing`` and :math:`w` = ``weight`` (ones when ``None``):

    Class-index target :math:`y_n` (``target`` one dimension smaller than ``input``):

    .. math:: \ell_n = (1 - \varepsilon)\,(-w_{y_n} p_{n, y_n})
              + \frac{\varepsilon}{C} \Big(-\sum_c w_c\, p_{n,c}\Big),
              \qquad \ell_n = 0 \text{ where } y_n = \mathrm{ignore\_index}

    ``"mean"`` divides the sum of both terms by :math:`\sum_{n: y_n \ne \mathrm{ignore\_index}} w_{y_n}`,
    exactly as ``nll_loss`` does: the smoothing term is weighted per class but normalised
    by the target weights.

    Class-probability target :math:`t_{n,c}` (``target`` of the input's shape):

    .. math:: \ell_n = -\sum_c w_c\, t'_{n,c}\, p_{n,c},\qquad
              t' = (1 - \varepsilon)\, t + \varepsilon / C

    ``"mean"`` divides by the number of samples :math:`N d_1 \cdots d_K` (1 unbatched):
    weights are **not** in the denominator here.

    Shape:
        input: ``(C,)``, ``(N, C)`` or ``(N, C, d_1, ..., d_K)``, logits.
        target: class indices of shape ``()``, ``(N,)`` or ``(N, d_1, ..., d_K)`` (int64 or
        uint8), or probabilities of the input's shape (floating point).
        weight: ``(C,)``.
        output: ``()`` unbatched, else the batch shape ``(N, d_1, ..., d_K)`` if
        ``reduction="none"``; ``()`` otherwise.

    Torch behaviour:
        the target kind is decided by shape alone (same shape as the input: probabilities);
        the smoothing term is computed only when ``label_smoothing > 0`` (so a -inf logit
        gives a finite loss at 0 and inf above 0); a probability of 0 against a -inf logit
        gives NaN (``0 * inf``, no ``xlogy``); probabilities are not checked to be
        non-negative or to sum to 1; every target ignored with ``"mean"`` gives NaN.

    Raises:
        ValueError: unknown ``reduction``; batch sizes differ (class-index targets).
        RuntimeError: ``label_smoothing`` outside ``[0, 1]``; a floating-point or other
            non-(int64, uint8) class-index target; an integer target of the input's shape;
            a class-index target of the wrong shape (which covers probability targets of the
            wrong shape); ``ignore_index >= 0`` with probability targets; wrong ``weight`` shape.
        IndexError: a class index outside ``[0, C)`` that is not ``ignore_index``.

    Examples:
        >>> x = np.arange(1.0, 13.0).reshape(3, 4)
        >>> round(float(cross_entropy(x, np.array([1, 2, 3]))), 6)
        1.44019
        >>> x = np.array([[1.0, 2.0, 3.0], [1.0, 2.0, 0.5]])
        >>> round(float(cross_entropy(x, np.array([2, 1]))), 6)
        0.435987
        >>> round(float(cross_entropy(x, np.array([2, 1]), weight=np.array([1.0, 2.0, 0.5]))), 6)
        0.453016
        >>> round(float(cross_entropy(x, np.array([2, -100]))), 6)
        0.407606
    """
    check_reduction(reduction)
    _check_label_smoothing(label_smoothing)
    if _is_probability_target(input, target):
        return _cross_entropy_probs(input, target, weight, ignore_index, reduction, label_smoothing)[0]
    x = np.asarray(input, dtype=np.float64)
    resolve_dim(x, _class_axis(x.ndim), "log_softmax")  # torch's log_softmax comes first: 0-D fails there
    logits, kept, y, w, w_y = _class_index_terms(x, target, weight, ignore_index)
    if label_smoothing > 0:  # torch skips the term at 0, so 0 * inf never arises there
        logp = log_softmax(logits, -1)
        losses = np.where(kept, -w_y * _pick(logp, y), 0.0)
        n_classes = logp.shape[-1]
        smooth = np.where(kept, -np.sum(w * logp, axis=-1), 0.0)
        losses = (1 - label_smoothing) * losses + (label_smoothing / n_classes) * smooth
    else:
        losses = np.where(kept, -w_y * _log_softmax_at(logits, y), 0.0)
    return reduce(losses, reduction, mean_denominator=np.sum(w_y))


def _cross_entropy_probs(input, target, weight, ignore_index, reduction, label_smoothing, softmax_too=False):
    """Probability-target forward; also returns what the backward reuses, ``(loss, logp, t', w, q)``
    with classes last: with ``softmax_too`` the softmax ``q``, from the log-softmax's pass of exp."""
    x = np.asarray(input, dtype=np.float64)
    t = np.asarray(target)
    w = None if weight is None else np.asarray(weight, dtype=np.float64)
    _check_probability_target(x, t, w, ignore_index)
    axis = _class_axis(x.ndim)
    if softmax_too:
        logp, q = (np.moveaxis(a, axis, -1) for a in _log_softmax_and_softmax(x, axis))
    else:
        logp, q = np.moveaxis(log_softmax(x, axis), axis, -1), None
    t = np.moveaxis(t.astype(np.float64), axis, -1)
    n_classes = logp.shape[-1]
    w = np.ones(n_classes) if w is None else w
    if label_smoothing > 0:
        t = t * (1 - label_smoothing) + label_smoothing / n_classes
    losses = -np.sum(w * t * logp, axis=-1)
    return reduce(losses, reduction), logp, t, w, q


def cross_entropy_backward(grad_output, input, target, weight=None, ignore_index=-100, reduction="mean",
                           label_smoothing=0.0):
    r"""Gradients of ``cross_entropy`` with respect to ``input`` (and probability ``target``).

    Let :math:`s_n` be the reduction's factor (:math:`g_n` for none, :math:`g` for sum,
    :math:`g/D` for mean with the denominator :math:`D` of the forward), :math:`q =
    \mathrm{softmax}(x)` and :math:`G_{n,c} = \partial L/\partial p_{n,c}`. Then, through the
    log-softmax,

    .. math:: \frac{\partial L}{\partial x_{n,c}} = G_{n,c} - q_{n,c} \sum_k G_{n,k}

    Class-index target (rows with an ignored target have :math:`G = 0`):

    .. math:: G_{n,c} = -s_n \Big((1-\varepsilon)\, w_{y_n} [c = y_n] + \frac{\varepsilon}{C} w_c\Big)

    which for :math:`\varepsilon = 0` and no weight is the familiar
    :math:`s_n (q_{n,c} - [c = y_n])`.

    Class-probability target, with :math:`t' = (1-\varepsilon) t + \varepsilon / C`:

    .. math:: G_{n,c} = -s_n\, w_c\, t'_{n,c},\qquad
              \frac{\partial L}{\partial t_{n,c}} = -s_n\, w_c\, (1 - \varepsilon)\, p_{n,c}

    Returns ``{"input": ...}``, plus ``"target"`` for probability targets.

    Examples:
        >>> g = cross_entropy_backward(np.float64(1.0), np.zeros((1, 2)), np.array([0]))
        >>> g["input"].tolist()
        [[-0.5, 0.5]]
    """
    x = np.asarray(input, dtype=np.float64)
    axis = _class_axis(x.ndim)
    if _is_probability_target(input, target):
        _, logp, t, w, q = _cross_entropy_probs(input, target, weight, ignore_index, reduction,
                                                label_smoothing, softmax_too=True)
        s = reduce_backward(grad_output, logp.shape[:-1], reduction)[..., None]
        grad_logp = -s * w * t
        grad_target = -s * w * (1 - label_smoothing if label_smoothing > 0 else 1.0) * logp
        result = {"target": np.moveaxis(grad_target, -1, axis)}
    else:
        resolve_dim(x, axis, "log_softmax")  # torch's log_softmax comes first: 0-D fails there
        logits, kept, y, w, w_y = _class_index_terms(x, target, weight, ignore_index)
        s = reduce_backward(grad_output, kept.shape, reduction, mean_denominator=np.sum(w_y))
        n_classes = logits.shape[-1]
        q = softmax(logits, -1)
        if label_smoothing == 0:
            # G is zero but at each target's class, where it is G_y, so G - q sum(G) needs no dense
            # G: it is 0 - q G_y off the target and G_y - q_y G_y at it
            with np.errstate(invalid="ignore"):  # -0 * inf is torch's NaN for all-zero weights
                g_y = np.where(kept, -w_y * s, 0.0)
            total = g_y + 0.0  # sum(G), of zeros and G_y: -0.0 comes out as 0.0
            at_target = g_y - _pick(q, y) * total
            grad_x = q  # in place: q is not needed any more
            grad_x *= total[..., None]
            np.subtract(0.0, grad_x, out=grad_x)
            if n_classes:
                np.put_along_axis(grad_x, y[..., None], at_target[..., None], axis=-1)
            return {"input": np.moveaxis(grad_x, -1, axis)}
        with np.errstate(invalid="ignore"):
            grad_logp = _scatter(logits.shape, y, np.where(kept, -(1 - label_smoothing) * w_y * s, 0.0))
            grad_logp = grad_logp + np.where(kept, -(label_smoothing / n_classes) * s, 0.0)[..., None] * w
        result = {}
    grad_x = grad_logp - q * np.sum(grad_logp, axis=-1, keepdims=True)
    return {"input": np.moveaxis(grad_x, -1, axis), **result}
