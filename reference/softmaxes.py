"""softmax and log_softmax, the functions the cross-entropy family rests on.

Both subtract the maximum along ``dim`` before exponentiating, so no finite input
overflows; a row containing NaN or +inf, or made only of -inf, comes out NaN, as in torch.
The reference always computes in float64: torch's ``dtype=`` argument (cast the input
before computing) changes only which rounded values reach the function, so it is
accepted and otherwise ignored here.
"""

import warnings

import numpy as np

__all__ = ["softmax", "softmax_backward", "log_softmax", "log_softmax_backward"]


def _softmax_dim(ndim):
    # torch.nn.functional._get_softmax_dim: the legacy rule for dim=None
    return 0 if ndim in (0, 1, 3) else 1


def resolve_dim(input, dim, name="softmax"):
    """Return ``dim`` as a non-negative axis of ``input``, applying torch's rules.

    ``dim=None`` warns (deprecated) and picks 0 for 0-, 1- and 3-D inputs and 1 otherwise.
    A 0-D input accepts ``dim`` in ``{0, -1}``. Out-of-range ``dim`` is an ``IndexError``.
    """
    if dim is None:
        warnings.warn(
            f"Implicit dimension choice for {name} has been deprecated. "
            "Change the call to include dim=X as an argument.",
            UserWarning,
            stacklevel=3,
        )
        dim = _softmax_dim(input.ndim)
    ndim = max(input.ndim, 1)  # torch treats a 0-D tensor as having one wrappable dim
    if not -ndim <= dim < ndim:
        raise IndexError(
            f"Dimension out of range (expected to be in range of [{-ndim}, {ndim - 1}], but got {dim})"
        )
    return dim % ndim


def _shifted(x, axis):
    return x - np.max(x, axis=axis, keepdims=True)  # the max makes exp() overflow-free


def _stable_exp(x, axis):
    """``(x - max, exp(x - max), sum of exp(x - max))`` along ``axis`` (kept)."""
    shifted = _shifted(x, axis)
    e = np.exp(shifted)
    return shifted, e, np.sum(e, axis=axis, keepdims=True)


def _log_softmax_and_softmax(x, axis):
    """``(log_softmax(x, axis), softmax(x, axis))`` of a float64 array, from one pass of exp."""
    if x.shape[axis] == 0:
        return x.copy(), x.copy()
    shifted, e, total = _stable_exp(x, axis)
    shifted -= np.log(total)
    e /= total
    return shifted, e


def log_softmax(input, dim=None, dtype=None):
    r"""Logarithm of the softmax along ``dim``.

    .. math:: \mathrm{log\_softmax}(x)_i = x_i - m - \log \sum_j e^{x_j - m},\quad m = \max_j x_j

    Shape:
        input: any shape; output: the same shape.

    Torch behaviour:
        ``dim=None`` is deprecated and resolved by the legacy rule (0 for 0-, 1- and 3-D
        inputs, else 1); a row that is all -inf, or holds NaN or +inf, gives NaN.

    Examples:
        >>> log_softmax(np.array([0.0, -1000.0, -2000.0]), dim=0).tolist()
        [0.0, -1000.0, -2000.0]
    """
    x = np.asarray(input, dtype=np.float64)
    axis = resolve_dim(x, dim, "log_softmax")
    if x.ndim == 0:
        return log_softmax(x.reshape(1), 0).reshape(())
    if x.shape[axis] == 0:
        return x.copy()
    shifted, _, total = _stable_exp(x, axis)
    shifted -= np.log(total)
    return shifted


def log_softmax_backward(grad_output, input, dim=None, dtype=None):
    r"""Gradient of ``log_softmax`` with respect to ``input``.

    .. math:: \frac{\partial L}{\partial x_i} = g_i - \mathrm{softmax}(x)_i \sum_j g_j

    Returns ``{"input": gradient}``.

    Examples:
        >>> g = log_softmax_backward(np.array([1.0, 0.0]), np.array([0.0, 0.0]), dim=0)
        >>> g["input"].tolist()
        [0.5, -0.5]
    """
    x = np.asarray(input, dtype=np.float64)
    axis = resolve_dim(x, dim, "log_softmax") if x.ndim else None
    g = np.asarray(grad_output, dtype=np.float64)
    q = softmax(x, 0 if axis is None else axis)  # exp(log_softmax(x)), from one pass of exp
    q *= np.sum(g, axis=axis, keepdims=True)
    return {"input": g - q}


def softmax(input, dim=None, dtype=None):
    r"""Softmax along ``dim``: non-negative values that sum to one along ``dim``.

    .. math:: \mathrm{softmax}(x)_i = \frac{e^{x_i - m}}{\sum_j e^{x_j - m}},\quad m = \max_j x_j

    Shape:
        input: any shape; output: the same shape.

    Torch behaviour:
        as for :func:`log_softmax`.

    Examples:
        >>> [round(v, 6) for v in softmax(np.array([1.0, 1.0, 2.0, 2.0]), dim=0).tolist()]
        [0.134471, 0.134471, 0.365529, 0.365529]
    """
    x = np.asarray(input, dtype=np.float64)
    axis = resolve_dim(x, dim, "softmax")
    if x.ndim == 0:
        return softmax(x.reshape(1), 0).reshape(())
    if x.shape[axis] == 0:
        return x.copy()
    e = _shifted(x, axis)
    np.exp(e, out=e)  # one array from the shift to the result
    e /= np.sum(e, axis=axis, keepdims=True)
    return e


def softmax_backward(grad_output, input, dim=None, dtype=None):
    r"""Gradient of ``softmax`` with respect to ``input``.

    .. math:: \frac{\partial L}{\partial x_i} = y_i \Big(g_i - \sum_j g_j y_j\Big),\quad y = \mathrm{softmax}(x)

    Returns ``{"input": gradient}``.

    Examples:
        >>> softmax_backward(np.array([1.0, 0.0]), np.array([0.0, 0.0]), dim=0)["input"].tolist()
        [0.25, -0.25]
    """
    x = np.asarray(input, dtype=np.float64)
    axis = resolve_dim(x, dim, "softmax") if x.ndim else None
    g = np.asarray(grad_output, dtype=np.float64)
    y = softmax(x, 0 if axis is None else axis)
    return {"input": y * (g - np.sum(g * y, axis=axis, keepdims=True))}
