"""ctc_loss: connectionist temporal classification (Graves et al., 2006).

For one sample with log-probabilities :math:`x_{t,c}` (``T`` frames, ``C`` classes, one
of them the blank :math:`b`), target :math:`l = (l_1, ..., l_S)` and input length
:math:`T' \\le T`, the extended target :math:`l' = (b, l_1, b, l_2, ..., b, l_S, b)` has
``2S + 1`` states. An alignment is a path :math:`\\pi` through them that starts at state 0
or 1, ends at state ``2S`` or ``2S - 1``, and at each frame stays, moves one state, or
skips a blank between two *different* labels. The loss is

.. math:: \\ell = -\\log \\sum_{\\pi} \\prod_{t < T'} e^{x_{t, l'_{\\pi_t}}}

computed by the forward recursion in log space (``log_alpha``); the backward recursion
(``log_beta``) gives the gradient. Frames at or after :math:`T'` do not take part.
"""

import numpy as np

from ._reduction import check_reduction, reduce, reduce_backward

__all__ = ["ctc_loss", "ctc_loss_backward"]


def _logsumexp(a, axis=None):
    m = np.max(a, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)  # an all -inf set stays -inf instead of NaN
    with np.errstate(divide="ignore"):
        return np.squeeze(np.log(np.sum(np.exp(a - m), axis=axis, keepdims=True)) + m, axis=axis)


def _lengths(value, name):
    """Lengths given as an integer array or a tuple/list of ints (a Python int is rejected, as in torch)."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, np.ndarray):
        raise TypeError(f"ctc_loss(): {name} must be a tuple of ints or an integer tensor, not int")
    a = np.asarray(value)
    if a.dtype.kind not in "iu":
        raise RuntimeError(f"{name} must be integral")
    return a.reshape(-1).astype(np.int64)


def _check(log_probs, targets, input_lengths, target_lengths, blank):
    """Validate; return ``(x (T, N, C), [target of each sample], il, tl, unbatched)``."""
    x = np.asarray(log_probs, dtype=np.float64)
    t = np.asarray(targets)
    il, tl = _lengths(input_lengths, "input_lengths"), _lengths(target_lengths, "target_lengths")
    if x.ndim not in (2, 3):
        raise RuntimeError(f"Expected 3-dimensional tensor, but got {x.ndim}-dimensional tensor for argument "
                           "#1 'log_probs'")
    unbatched = x.ndim == 2
    if unbatched:
        x, t = x[:, None, :], t[None] if t.ndim == 1 else t
    if x.size == 0:
        raise RuntimeError("log_probs tensor must not be empty")
    n_frames, n, n_classes = x.shape
    if not 0 <= blank < n_classes:
        raise RuntimeError("blank must be in label range")
    if il.size != n:
        raise RuntimeError("input_lengths must be of size batch_size")
    if tl.size != n:
        raise RuntimeError("target_lengths must be of size batch_size")
    for name, lengths in (("input_lengths", il), ("target_lengths", tl)):
        if lengths.min() < 0:
            raise RuntimeError(f"Expected {name} to have value at least 0, but got value {lengths.min()}")
    if il.max() > n_frames:
        raise RuntimeError(f"Expected input_lengths to have value at most {n_frames}, but got value {il.max()}")
    if unbatched:
        if t.shape[1] != tl[0]:
            raise RuntimeError(f"Expected tensor to have size {tl[0]} at dimension 0, but got size {t.shape[1]} "
                               "for argument #2 'targets'")
        return x, [t[0]], il, tl, True
    if t.ndim == 1:  # concatenated targets
        if t.shape[0] != tl.sum():
            raise RuntimeError(f"Expected tensor to have size {tl.sum()} at dimension 0, but got size "
                               f"{t.shape[0]} for argument #2 'targets'")
        offsets = np.concatenate([[0], np.cumsum(tl)])
        return x, [t[offsets[i]:offsets[i + 1]] for i in range(n)], il, tl, False
    if t.shape[0] != n:
        raise RuntimeError(f"Expected tensor to have size {n} at dimension 0, but got size {t.shape[0]} "
                           "for argument #2 'targets'")
    if t.shape[1] < tl.max():
        raise RuntimeError(f"Expected tensor to have size at least {tl.max()} at dimension 1, but got size "
                           f"{t.shape[1]} for argument #2 'targets'")
    return x, [t[i, :tl[i]] for i in range(n)], il, tl, False  # padding beyond the length is never read


def _extended(targets, blank):
    """``(ext, skip, last)`` of every sample, padded to the longest target, each ``(N, 2 S_max + 1)``:
    the extended target ``(b, l_1, b, ..., l_S, b)`` (blank past its ``2 S_n + 1`` states), where a
    state may be entered from two states back (a label differing from that one), and which
    states may end an alignment (the last one or two)."""
    n_targets = np.array([len(t) for t in targets], dtype=np.int64)
    n_states = 2 * n_targets + 1
    ext = np.full((len(targets), 2 * int(n_targets.max(initial=0)) + 1), blank, dtype=np.int64)
    for i, target in enumerate(targets):
        ext[i, 1:n_states[i]:2] = target
    state = np.arange(ext.shape[1])
    skip = np.zeros(ext.shape, dtype=bool)
    skip[:, 3::2] = (ext[:, 3::2] != ext[:, 1:-2:2]) & (state[3::2] < n_states[:, None])
    last = (state >= n_states[:, None] - 2) & (state < n_states[:, None])
    return ext, skip, last


def _shift(a, k):
    """``a`` moved ``k`` places along its last axis (to the right for ``k > 0``), -inf filling in."""
    out = np.full(a.shape, -np.inf)
    if k > 0:
        out[..., k:] = a[..., :a.shape[-1] - k]
    else:
        out[..., :a.shape[-1] + k] = a[..., -k:]
    return out


def _state_log_probs(x, ext, n_states):
    """``lp[t, n, s] = x[t, n, ext[n, s]]``, -inf at the states a sample lacks (they never hold mass)."""
    lp = x[:, np.arange(len(ext))[:, None], ext]
    lp[:, np.arange(ext.shape[1]) >= n_states[:, None]] = -np.inf
    return lp


def _log_alpha(lp, skip):
    """The forward variables ``(T, N, 2 S_max + 1)`` over every frame, including frame t's own
    log-probability (past a sample's input length they are never read)."""
    alpha = np.full(lp.shape, -np.inf)
    alpha[0, :, :2] = lp[0, :, :2]
    label_skip = skip[:, 1::2]
    for t in range(1, len(lp)):
        prev = alpha[t - 1]
        entering = np.logaddexp(prev, _shift(prev, 1))
        # Only a label (odd state) may come from two states back, from the previous label where
        # skip allows it; a blank's term would be -inf, and logaddexp(a, -inf) is a: left out.
        label = entering[:, 1::2]
        np.logaddexp(label, np.where(label_skip, _shift(prev[:, 1::2], 1), -np.inf), out=label)
        np.add(entering, lp[t], out=alpha[t])
    return alpha


def _log_beta(lp, skip, last, lengths):
    """The backward variables, shaped as ``_log_alpha``'s, each sample's starting at its last
    frame ``lengths - 1`` (-inf after it)."""
    label_skip_from = np.zeros(skip[:, 1::2].shape, dtype=bool)  # a label may skip to the next one
    label_skip_from[:, :-1] = skip[:, 3::2]
    beta = np.full(lp.shape, -np.inf)
    nxt = beta[-1]
    for t in range(len(lp) - 1, -1, -1):
        leaving = np.logaddexp(nxt, _shift(nxt, -1))
        label = leaving[:, 1::2]  # as in _log_alpha
        np.logaddexp(label, np.where(label_skip_from, _shift(nxt[:, 1::2], -1), -np.inf), out=label)
        np.add(leaving, lp[t], out=beta[t])
        starting = lengths - 1 == t
        beta[t, starting] = np.where(last[starting], lp[t, starting], -np.inf)
        nxt = beta[t]
    return beta


def _nll(alpha, last, input_lengths, target_lengths):
    """Each sample's negative log-likelihood, from its forward variables at its last frame."""
    final = alpha[np.maximum(input_lengths - 1, 0), np.arange(len(input_lengths))]
    nll = -_logsumexp(np.where(last, final, -np.inf), axis=1)
    # no frame: only the empty target has (the empty) alignment
    return np.where(input_lengths > 0, nll, np.where(target_lengths == 0, 0.0, np.inf))


def _class_log_sums(ab, ext, n_states, n_classes):
    """``log sum_{s: ext[n, s] = c} exp(ab[t, n, s])`` for every frame t, sample n and class c,
    -inf for the classes a sample's extended target lacks: shape ``(T, N, C)``."""
    n_frames, n, width = ab.shape
    states = np.flatnonzero(np.arange(width) < n_states[:, None])  # those that exist, in the (N, width) grid
    classes = (states // width) * n_classes + ext.reshape(-1)[states]  # and their class, in the (N, C) grid
    order = np.argsort(classes, kind="stable")
    classes, states = classes[order], states[order]
    _, first, sizes = np.unique(classes, return_index=True, return_counts=True)
    flat = ab.reshape(n_frames, -1)
    sums = np.empty((n_frames, len(first)))
    for size in np.unique(sizes):  # the classes held by the same number of states, together
        group = sizes == size
        held = flat[:, states[first[group, None] + np.arange(size)]]
        sums[:, group] = held[..., 0] if size == 1 else _logsumexp(held, axis=2)  # one state: its own value
    out = np.full((n_frames, n * n_classes), -np.inf)
    np.put(out, np.arange(n_frames)[:, None] * out.shape[1] + classes[first], sums)  # out[:, classes] = sums
    return out.reshape(n_frames, n, n_classes)


def _forward(log_probs, targets, input_lengths, target_lengths, blank):
    x, target_list, il, tl, unbatched = _check(log_probs, targets, input_lengths, target_lengths, blank)
    ext, skip, last = _extended([np.asarray(t).astype(np.int64) for t in target_list], blank)
    lp = _state_log_probs(x, ext, 2 * tl + 1)
    alpha = _log_alpha(lp, skip)
    return x, ext, skip, last, lp, alpha, _nll(alpha, last, il, tl), il, tl, unbatched


def ctc_loss(log_probs, targets, input_lengths, target_lengths, blank=0, reduction="mean", zero_infinity=False):
    r"""Connectionist temporal classification loss.

    .. math:: \ell_n = -\log \sum_{\pi \in \mathcal{B}^{-1}(l_n)} \prod_{t < T_n} \exp(x_{t, n, \pi_t})

    over every alignment :math:`\pi` of length :math:`T_n` (``input_lengths[n]``) that
    collapses to the target :math:`l_n` (the first ``target_lengths[n]`` labels) once
    repeats are merged and blanks removed; computed with the forward recursion in log
    space (see the module docstring). ``"mean"`` divides each :math:`\ell_n` by its target
    length clamped at 1, then averages over the batch: :math:`\frac{1}{N}\sum_n
    \ell_n / \max(S_n, 1)`; ``"sum"`` adds the :math:`\ell_n`.

    Shape:
        log_probs: ``(T, N, C)`` or unbatched ``(T, C)``; float32/float64 in torch on CPU.
        targets: padded ``(N, S)`` with ``S >= max(target_lengths)`` (entries past a
        sample's length are ignored), or concatenated ``(sum(target_lengths),)``; ``(S,)``
        with ``S = target_length`` unbatched. Labels in ``[0, C)`` other than ``blank``.
        input_lengths, target_lengths: ``(N,)`` integer arrays or tuples of ints (``()`` /
        ``(1,)`` unbatched).
        output: ``(N,)`` (``()`` unbatched) if ``reduction="none"``, else ``()``.

    Torch behaviour:
        ``log_probs`` are not checked to be normalized (adding ``c`` to every entry shifts
        the loss by ``-c * T_n``); an impossible alignment (too few frames, counting the
        blank needed between repeated labels) gives inf, or 0 with ``zero_infinity=True``;
        an empty target costs :math:`-\sum_{t<T_n} x_{t,n,b}`, and 0 frames with an empty
        target cost 0; targets are not validated (an out-of-range label reads out of
        bounds in torch: never pass one).

    Raises:
        ValueError: unknown ``reduction``.
        RuntimeError: empty ``log_probs`` (N = 0 or T = 0); log_probs not 2- or 3-D;
            ``blank`` outside ``[0, C)``; lengths of the wrong size, negative, not integral,
            or input lengths above T; targets of the wrong size.
        TypeError: lengths given as a Python int.

    Examples:
        >>> x = np.log(np.full((2, 1, 2), 0.5))  # T=2, N=1, C=2 uniform
        >>> tl, il = np.array([1]), np.array([2])
        >>> round(float(ctc_loss(x, np.array([[1]]), il, tl)), 6)  # paths (1,1) (0,1) (1,0): -log(3/4)
        0.287682
        >>> float(ctc_loss(x, np.array([[1, 1]]), il, np.array([2])))  # 1,1 needs a blank between
        inf
    """
    check_reduction(reduction)
    *_, losses, il, tl, unbatched = _forward(log_probs, targets, input_lengths, target_lengths, blank)
    if zero_infinity:
        losses = np.where(losses == np.inf, 0.0, losses)
    if reduction == "mean":
        return reduce(losses / np.maximum(tl, 1), "mean")  # each loss per target label first
    out = reduce(losses, reduction)
    return out.reshape(()) if unbatched and reduction == "none" else out


def ctc_loss_backward(grad_output, log_probs, targets, input_lengths, target_lengths, blank=0, reduction="mean",
                      zero_infinity=False, *, convention="torch"):
    r"""Gradient of ``ctc_loss`` with respect to ``log_probs``, in torch's convention by default.

    With :math:`g_n` the gradient reaching sample :math:`n`'s loss (:math:`g`, the
    per-sample :math:`g_n`, or :math:`g / (N \max(S_n, 1))` for mean) and the forward and
    backward variables :math:`\alpha_t(s)`, :math:`\beta_t(s)` (both including frame
    :math:`t`'s own probability), the true gradient is

    .. math:: \frac{\partial \ell_n}{\partial x_{t,n,c}} = -\exp\Big(\ell_n - x_{t,n,c}
              + \log \sum_{s:\ l'_s = c} \alpha_t(s)\,\beta_t(s)\Big),\qquad t < T_n

    (the posterior mass of class :math:`c` at frame :math:`t`, negated) and 0 for
    :math:`t \ge T_n`. ``convention="true"`` returns :math:`g_n` times this.

    ``convention="torch"`` (the default) returns what torch's autograd returns: ATen's
    ``ctc_loss_backward`` computes the gradient **as if** ``log_probs`` were the output of
    ``log_softmax`` over classes and differentiates with respect to its logits, which
    adds :math:`g_n \exp(x_{t,n,c})` for every :math:`t < T_n`:

    .. math:: G^{\mathrm{torch}}_{t,n,c} = g_n\Big(\exp(x_{t,n,c})
              + \frac{\partial \ell_n}{\partial x_{t,n,c}}\Big)

    That term vanishes after the ``log_softmax`` backward for normalized ``log_probs``
    (the case the documentation asks for), but a port checked against torch's gradient on
    leaf ``log_probs`` needs it, and one that returns the true gradient differs from torch
    by exactly it (pytorch/pytorch#52241, #82545). An infinite loss gives a NaN gradient
    in every frame :math:`t < T_n`, or 0 with ``zero_infinity=True``.

    Returns ``{"log_probs": gradient}`` of the input's shape.

    Examples:
        >>> x = np.log(np.full((2, 1, 2), 0.5))
        >>> g = ctc_loss_backward(np.float64(1.0), x, np.array([[1]]), np.array([2]), np.array([1]),
        ...                       reduction="sum", convention="true")
        >>> g["log_probs"][:, 0].round(6).tolist()  # posteriors: blank 1/3, label 2/3 in each frame
        [[-0.333333, -0.666667], [-0.333333, -0.666667]]
        >>> ctc_loss_backward(np.float64(1.0), x, np.array([[1]]), np.array([2]), np.array([1]),
        ...                   reduction="sum")["log_probs"][:, 0].round(6).tolist()  # + exp(x) = 0.5
        [[0.166667, -0.166667], [0.166667, -0.166667]]
    """
    check_reduction(reduction)
    if convention not in ("torch", "true"):
        raise ValueError(f"convention must be 'torch' or 'true', got {convention!r}")
    x, ext, skip, last, lp, alpha, nll, il, tl, unbatched = _forward(log_probs, targets, input_lengths,
                                                                    target_lengths, blank)
    n_frames, n, n_classes = x.shape
    scale = np.maximum(tl, 1) if reduction == "mean" else np.ones(n)
    g = reduce_backward(grad_output, (n,), reduction) / scale
    # log sum over the states of each class of alpha * beta; -inf for classes not in l'
    log_ab = _class_log_sums(alpha + _log_beta(lp, skip, last, il), ext, 2 * tl + 1, n_classes)
    with np.errstate(invalid="ignore", over="ignore"):
        # true = -exp(log_ab + nll - x), in log_ab's own array (inf loss: -inf + inf is NaN, as in torch)
        true = log_ab
        true += nll[:, None]
        true -= x
        np.negative(np.exp(true, out=true), out=true)
        grad = true + np.exp(x) if convention == "torch" else true
        grad *= g[:, None]
    outside = np.arange(n_frames)[:, None] >= il  # frames past each input length take no part
    if zero_infinity:
        outside |= nll == np.inf  # torch zeroes the whole sample's gradient
    grad[outside] = 0.0
    return {"log_probs": grad[:, 0] if unbatched else grad}
