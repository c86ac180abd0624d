"""kl_div, poisson_nll_loss and gaussian_nll_loss: negative log-likelihoods and divergences.

All three are elementwise losses whose operands broadcast against each other silently
(``target`` against ``input``, and ``var`` against both): the unreduced loss has the
broadcast shape, ``"mean"`` divides by its number of elements, and each gradient is summed
back over the dimensions its argument was broadcast along. Where torch differentiates
through an expression whose value is masked or zero (``xlogy`` at 0, the masked Stirling
term), the backward below follows torch's autograd arithmetic term by term, so that the
NaN it produces at those points is reproduced rather than smoothed away.
"""

import numbers
import warnings

import numpy as np

from ._broadcast import broadcast_shape, unbroadcast
from ._reduction import check_reduction, reduce, reduction_factor

__all__ = [
    "kl_div",
    "kl_div_backward",
    "poisson_nll_loss",
    "poisson_nll_loss_backward",
    "gaussian_nll_loss",
    "gaussian_nll_loss_backward",
]

KL_DIV_REDUCTIONS = ("none", "batchmean", "sum", "mean")
_KL_DIV_MEAN_WARNING = (
    "reduction: 'mean' divides the total loss by both the batch size and the support size."
    "'batchmean' divides only by the batch size, and aligns with the KL div math definition."
    "'mean' will be changed to behave the same as 'batchmean' in the next major release."
)
_HALF_LOG_2PI = 0.5 * np.log(2 * np.pi)


def _factor(grad_output, shape, reduction, mean_denominator=None):
    """The reduction's factor ``s`` as a read-only array of the broadcast ``shape`` that stores
    one value for "mean" and "sum": the partials below are summed over broadcast dimensions."""
    return np.broadcast_to(reduction_factor(grad_output, shape, reduction, mean_denominator), shape)


def _floats(*arrays, name):
    """The tensor arguments as float64 arrays; integer ones are rejected as torch does."""
    out = []
    for a in arrays:
        a = np.asarray(a)
        if not np.issubdtype(a.dtype, np.floating):
            raise RuntimeError(f"{name}: Integral inputs not supported.")
        out.append(np.asarray(a, dtype=np.float64))
    return out


def _xlogy(a, b):
    """torch.xlogy(a, b): ``a log b``, but 0 where a == 0 unless b is NaN."""
    with np.errstate(divide="ignore", invalid="ignore"):
        product = np.asarray(a * np.log(b))
    product[(a == 0) & ~np.isnan(b)] = 0.0
    return product


def _kl_div_denominator(x, shape, reduction):
    """What ``reduction`` divides the sum by: ``None`` for "none" and "sum"."""
    if reduction == "mean":
        return int(np.prod(shape))
    if reduction == "batchmean" and x.ndim:
        return x.shape[0]  # the input's first size, even when the target broadcasts it wider
    return None


def kl_div(input, target, reduction="mean", log_target=False):
    r"""Pointwise Kullback-Leibler divergence of ``target`` from ``input`` (log-probabilities).

    .. math:: \ell = t \log t - t\, x \quad(\text{``log\_target=False''};\ t \log t = 0 \text{ at } t = 0),
              \qquad \ell = e^{t}\,(t - x) \quad(\text{``log\_target=True''})

    ``"mean"`` divides the sum by the number of elements (and warns that it is not the
    KL divergence); ``"batchmean"`` divides it by ``input.shape[0]``, the mathematically
    correct average over a batch of distributions.

    Shape:
        input: ``(*)``, log-probabilities.
        target: broadcastable with ``input``; probabilities, or log-probabilities with
        ``log_target=True``.
        output: the broadcast shape if ``reduction="none"``, else ``()``.

    Torch behaviour:
        ``"mean"`` emits a ``UserWarning``; ``"batchmean"`` of a 0-D input is the plain sum,
        and it divides by the *input's* first size even when ``target`` broadcasts the
        result to more rows; a target of 0 contributes 0 (``xlogy``) unless its input is
        infinite (``0 * inf`` is NaN); a negative target gives NaN; ``log_target=True`` with
        a target of -inf gives NaN; the target broadcasts silently; an empty input gives
        NaN for "mean" and "batchmean" (0 / 0), 0 for "sum".

    Raises:
        ValueError: unknown ``reduction``.
        RuntimeError: integer input or target; shapes that do not broadcast.

    Examples:
        >>> x, t = np.log([[0.5, 0.5], [0.25, 0.75]]), np.array([[0.5, 0.5], [0.5, 0.5]])
        >>> round(float(kl_div(x, t, reduction="batchmean")), 6)  # (0 + 0.143841) / 2
        0.071921
        >>> kl_div(np.zeros(2), np.array([0.0, 1.0]), reduction="none").tolist()
        [0.0, 0.0]
        >>> float(kl_div(np.array(-1.0), np.array(1.0), reduction="batchmean"))  # 0-D: the sum
        1.0
    """
    check_reduction(reduction, KL_DIV_REDUCTIONS)
    x, t = _floats(input, target, name="kl_div")
    shape = broadcast_shape(t.shape, x.shape)  # torch multiplies target * input
    if reduction == "mean":
        warnings.warn(_KL_DIV_MEAN_WARNING, UserWarning, stacklevel=2)
    with np.errstate(invalid="ignore", over="ignore"):
        if log_target:
            losses = np.exp(t) * (t - x)
        else:
            losses = _xlogy(t, t) - t * x  # torch masks only t log t, so 0 * inf input is NaN
    losses = np.broadcast_to(losses, shape)
    denominator = _kl_div_denominator(x, shape, reduction)
    if reduction == "none":
        return np.array(losses)
    return reduce(losses, "sum" if denominator is None else "mean", mean_denominator=denominator)


def kl_div_backward(grad_output, input, target, reduction="mean", log_target=False):
    r"""Gradients of ``kl_div`` with respect to ``input`` and ``target``.

    With :math:`s` the reduction's factor (:math:`g` for none and sum, :math:`g/D` for mean
    and batchmean with the forward's denominator :math:`D`):

    .. math:: \frac{\partial L}{\partial x} = -s\,t,\qquad
              \frac{\partial L}{\partial t} = s\,(\log t + 1 - x) \quad(\text{``log\_target=False''})

    .. math:: \frac{\partial L}{\partial x} = -s\,e^{t},\qquad
              \frac{\partial L}{\partial t} = s\,e^{t}(t - x + 1) \quad(\text{``log\_target=True''})

    each summed over the dimensions its argument was broadcast along.

    Torch behaviour:
        torch differentiates ``xlogy(t, t)`` in both arguments, ``log t`` (masked to 0 at
        :math:`t = 0`) plus ``t / t``: at :math:`t = 0` the target gradient is NaN (0 / 0)
        whatever ``grad_output`` is; the input gradient there is 0.

    Returns ``{"input": ..., "target": ...}``.

    Examples:
        >>> g = kl_div_backward(np.float64(1.0), np.zeros(2), np.array([0.0, 1.0]), reduction="sum")
        >>> g["input"].tolist(), g["target"].tolist()  # d/dx = -t: -0.0 at t = 0, as in torch
        ([-0.0, -1.0], [nan, 1.0])
    """
    check_reduction(reduction, KL_DIV_REDUCTIONS)
    x, t = _floats(input, target, name="kl_div")
    shape = broadcast_shape(t.shape, x.shape)  # torch multiplies target * input
    denominator = _kl_div_denominator(x, shape, reduction)
    s = _factor(grad_output, shape, "none" if reduction == "none" else
                "sum" if denominator is None else "mean", mean_denominator=denominator)
    # torch sums each partial back to its operand's shape as soon as it leaves the
    # broadcasting op, before the chain rule multiplies it by factors of that operand's shape.
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if log_target:
            e = np.exp(t)
            grad_b = s * e  # of t - x
            grad_x = unbroadcast(-grad_b, x.shape)
            grad_t = unbroadcast(s * (t - x), t.shape) * e + unbroadcast(grad_b, t.shape)
        else:
            grad_xlogy = unbroadcast(s, t.shape)
            # xlogy's two partials: xlogy(grad, t) masked at t == 0, and grad * t / t (NaN at 0, as in torch)
            grad_log = _xlogy(grad_xlogy, t)
            grad_log[t == 0] = 0.0
            grad_t = grad_log + grad_xlogy * t / t + unbroadcast(-s * x, t.shape)
            grad_x = unbroadcast(-s * t, x.shape)
    return {"input": grad_x, "target": grad_t}


def _poisson_terms(input, target, log_input, full, eps):
    x, t = (np.asarray(a, dtype=np.float64) for a in (input, target))
    shape = broadcast_shape(t.shape, x.shape)  # torch multiplies target * input
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if log_input:
            losses = np.exp(x) - t * x  # eps plays no part here
        else:
            losses = x - t * np.log(x + eps)
        if full:
            stirling = t * np.log(t) - t + 0.5 * np.log(2 * np.pi * t)
            # torch's masked_fill(t <= 1, 0): a NaN target is not masked, and t == 1 gets no term
            losses = losses + np.where(t <= 1, 0.0, stirling)
    return x, t, np.broadcast_to(losses, shape)


def poisson_nll_loss(input, target, log_input=True, full=False, eps=1e-8, reduction="mean"):
    r"""Negative log-likelihood of ``target`` under a Poisson distribution of rate ``input``.

    .. math:: \ell = e^{x} - t\,x \quad(\text{``log\_input=True''}),\qquad
              \ell = x - t \log(x + \varepsilon) \quad(\text{``log\_input=False''})

    and with ``full=True`` the Stirling approximation of :math:`\log t!` is added where
    :math:`t > 1`:

    .. math:: \ell \mathrel{+}= [t > 1]\,\big(t \log t - t + \tfrac12 \log(2\pi t)\big)

    ``"mean"`` divides by the number of elements of the broadcast result.

    Shape:
        input: ``(*)``, log-rates (``log_input=True``) or rates.
        target: broadcastable with ``input``; counts, though any real is accepted.
        output: the broadcast shape if ``reduction="none"``, else ``()``.

    Torch behaviour:
        ``eps`` is used only with ``log_input=False``; the Stirling term is dropped for
        :math:`t \le 1`, including exactly 1 (a jump of 0.0810614 at :math:`t = 1`); targets
        and rates are not checked (a negative rate with ``log_input=False`` gives NaN); the
        target broadcasts silently; an empty input gives NaN for "mean", 0 for "sum". In
        float16 the default ``eps`` rounds away (0 + 1e-8 is 0), so a zero rate gives inf there.

    Raises:
        ValueError: unknown ``reduction`` (``"batchmean"`` included).
        RuntimeError: shapes that do not broadcast.

    Examples:
        >>> poisson_nll_loss(np.zeros(3), np.array([0.0, 1.0, 2.0]), reduction="none").tolist()
        [1.0, 1.0, 1.0]
        >>> round(float(poisson_nll_loss(np.array([0.0]), np.array([2.0]), log_input=False, reduction="sum")), 4)
        36.8414
        >>> poisson_nll_loss(np.zeros(2), np.array([1.0, 2.0]), full=True, reduction="none").round(6).tolist()
        [1.0, 1.651806]
    """
    check_reduction(reduction)
    _, _, losses = _poisson_terms(input, target, log_input, full, eps)
    return reduce(losses, reduction)


def poisson_nll_loss_backward(grad_output, input, target, log_input=True, full=False, eps=1e-8,
                              reduction="mean"):
    r"""Gradients of ``poisson_nll_loss`` with respect to ``input`` and ``target``.

    With :math:`s` the reduction's factor (:math:`g`, or :math:`g/n` for mean):

    .. math:: \frac{\partial L}{\partial x} = s\,(e^{x} - t),\quad
              \frac{\partial L}{\partial t} = -s\,x \quad(\text{``log\_input=True''})

    .. math:: \frac{\partial L}{\partial x} = s\Big(1 - \frac{t}{x + \varepsilon}\Big),\quad
              \frac{\partial L}{\partial t} = -s \log(x + \varepsilon) \quad(\text{``log\_input=False''})

    and with ``full=True`` the target gets :math:`[t > 1]\, s\,(\log t + \tfrac{1}{2t})` more.
    Each gradient is summed over the dimensions its argument was broadcast along.

    Torch behaviour:
        the Stirling term's gradient is masked to 0 for :math:`t \le 1` before it is
        multiplied by :math:`\log t` and divided by :math:`t`, so with ``full=True`` the
        target gradient is NaN where :math:`t \le 0` (0 times -inf, or 0 / 0).

    Returns ``{"input": ..., "target": ...}``.

    Examples:
        >>> g = poisson_nll_loss_backward(np.float64(1.0), np.zeros(2), np.array([0.0, 2.0]), reduction="sum")
        >>> g["input"].tolist(), g["target"].tolist()  # d/dt = -x: -0.0 at x = 0, as in torch
        ([1.0, -1.0], [-0.0, -0.0])
    """
    check_reduction(reduction)
    x, t, losses = _poisson_terms(input, target, log_input, full, eps)
    s = _factor(grad_output, losses.shape, reduction)
    # partials are summed to their operand's shape before the chain rule goes on (see kl_div)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if log_input:
            grad_x = unbroadcast(s, x.shape) * np.exp(x) + unbroadcast(-s * t, x.shape)
            grad_t = unbroadcast(-s * x, t.shape)
        else:
            log_x = np.log(x + eps)
            grad_x = unbroadcast(s, x.shape) + unbroadcast(-s * t, x.shape) / (x + eps)
            grad_t = unbroadcast(-s * log_x, t.shape)
        if full:
            m = np.where(t <= 1, 0.0, unbroadcast(s, t.shape))  # masked_fill's gradient, before the chain rule
            grad_t = grad_t + m * np.log(t) + m * t / t - m + (0.5 * m) / (2 * np.pi * t) * (2 * np.pi)
    return {"input": grad_x, "target": grad_t}


def _gaussian_var(input, var):
    """Validate ``var`` as torch does and return ``(var, var_shape)``: ``var`` as a float64
    array broadcastable to ``input`` (unsqueezed when one dimension short), and the shape its
    gradient takes (``None`` for a Python number, which has none)."""
    x = np.asarray(input)
    if isinstance(var, numbers.Real) and not isinstance(var, np.ndarray):
        # torch tests isinstance(var, float), so a Python int raises a TypeError there: a known divergence
        if var < 0:
            raise ValueError("var has negative entry/entries")
        return np.full(x.shape, float(var)), None
    v = np.asarray(var)
    if not np.issubdtype(v.dtype, np.floating):
        raise RuntimeError(f"result type Float can't be cast to the desired output type {v.dtype}")
    v = np.asarray(v, dtype=np.float64)
    if np.any(v < 0):
        raise ValueError("var has negative entry/entries")
    if v.shape == x.shape:
        return v, v.shape
    if x.shape[:-1] == v.shape:  # one fewer dimension: a single variance per row
        return v[..., None], v.shape
    # torch adds the sizes of var at the mismatched dimensions and requires the sum to be 1:
    # exactly one size-1 dimension (two are rejected although they would broadcast).
    if v.ndim == x.ndim and sum(m for n, m in zip(x.shape, v.shape, strict=True) if n != m) == 1:
        return v, v.shape
    raise ValueError("var is of incorrect size")


def _gaussian_terms(input, target, var, eps, reduction):
    """Validate in torch's order (var's sign and shape, the reduction, broadcasting); return
    ``(x, t, clamped var, var's gradient shape, broadcast shape)``."""
    x, t = (np.asarray(a, dtype=np.float64) for a in (input, target))
    v, var_shape = _gaussian_var(input, var)
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"{reduction} is not valid")
    shape = broadcast_shape(x.shape, t.shape, v.shape)
    return x, t, np.maximum(v, eps), var_shape, shape  # a clamp, not var + eps; NaN stays NaN


def gaussian_nll_loss(input, target, var, full=False, eps=1e-6, reduction="mean"):
    r"""Negative log-likelihood of ``target`` under a Gaussian of mean ``input`` and variance ``var``.

    .. math:: \ell = \tfrac12\Big(\log \max(v, \varepsilon) + \frac{(x - t)^2}{\max(v, \varepsilon)}\Big)
              \;\big(+\, \tfrac12 \log 2\pi \text{ with ``full=True''}\big)

    ``"mean"`` divides by the number of elements of the broadcast result.

    Shape:
        input: ``(*)``.
        target: broadcastable with ``input`` (documented: the input's shape, or one size 1).
        var: the input's shape; the input's shape with one size (the last, typically) equal
        to 1; the input's shape without its last dimension (``(N,)`` for ``(N, D)``); or a
        Python number, used for every element.
        output: the broadcast shape if ``reduction="none"``, else ``()``.

    Torch behaviour:
        ``eps`` clamps ``var`` (``max(var, eps)``), it is not added to it; the constant
        :math:`\tfrac12 \log 2\pi` only with ``full=True``; a ``var`` with two or more
        size-1 dimensions where the input has more is rejected, as the documentation's "one
        dimension equal to 1" says; a NaN ``var`` passes the negativity check; an empty
        input gives NaN for "mean", 0 for "sum". A Python ``int`` var is accepted here as
        the documented "scalar value"; torch raises ``TypeError`` for it (a known divergence).
        In float16 the default ``eps`` is subnormal (stored as 1.0133e-6).

    Raises:
        ValueError: a negative entry of ``var``; ``var`` of another shape; unknown ``reduction``
            (torch's message: ``"<reduction> is not valid"``).
        RuntimeError: an integer ``var`` tensor; ``target`` (or a size-0 ``var``) that does not
            broadcast.

    Examples:
        >>> x, t = np.array([1.0, 2.0]), np.array([0.0, 2.0])
        >>> gaussian_nll_loss(x, t, np.array([1.0, 0.0]), reduction="none").round(4).tolist()
        [0.5, -6.9078]
        >>> float(gaussian_nll_loss(x, t, 1.0, reduction="sum"))
        0.5
    """
    x, t, v, _, shape = _gaussian_terms(input, target, var, eps, reduction)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        losses = 0.5 * (np.log(v) + (x - t) ** 2 / v)
        if full:
            losses = losses + _HALF_LOG_2PI
    return reduce(np.broadcast_to(losses, shape), reduction)


def gaussian_nll_loss_backward(grad_output, input, target, var, full=False, eps=1e-6, reduction="mean"):
    r"""Gradients of ``gaussian_nll_loss`` with respect to ``input``, ``target`` and ``var``.

    With :math:`s` the reduction's factor (:math:`g`, or :math:`g/n` for mean),
    :math:`d = x - t` and :math:`\hat v = \max(v, \varepsilon)`:

    .. math:: \frac{\partial L}{\partial x} = -\frac{\partial L}{\partial t} = s\,\frac{d}{\hat v},\qquad
              \frac{\partial L}{\partial v} = \frac{s}{2}\Big(\frac{1}{\hat v} - \frac{d^2}{\hat v^2}\Big)

    each summed over the dimensions its argument was broadcast along.

    Torch behaviour:
        the clamp is applied in place under ``no_grad``, so it is invisible to autograd:
        the gradient with respect to ``var`` is "straight-through", the derivative at
        :math:`\hat v` even where :math:`v < \varepsilon` (where the true derivative is 0).
        A Python-number ``var`` has no gradient.

    Returns ``{"input": ..., "target": ...}`` plus ``"var"`` when ``var`` is an array.

    Examples:
        >>> g = gaussian_nll_loss_backward(np.float64(1.0), np.array([1.0]), np.array([0.0]),
        ...                                np.array([0.0]), eps=0.5, reduction="sum")
        >>> g["input"].tolist(), g["var"].tolist()  # var clamped to 0.5; its gradient taken there
        ([2.0], [-1.0])
    """
    x, t, v, var_shape, shape = _gaussian_terms(input, target, var, eps, reduction)
    s = _factor(grad_output, shape, reduction)
    # partials are summed to their operand's shape before the chain rule goes on (see kl_div)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        half = 0.5 * s
        d = x - t
        sq = d * d
        grad_d = unbroadcast(half / v, d.shape) * (2 * d)
        grad_v = unbroadcast(half, v.shape) / v + unbroadcast(-half * ((sq / v) / v), v.shape)
    grads = {"input": unbroadcast(grad_d, x.shape), "target": unbroadcast(-grad_d, t.shape)}
    if var_shape is not None:
        grads["var"] = grad_v.reshape(var_shape)
    return grads
