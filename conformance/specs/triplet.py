"""triplet_margin_loss and triplet_margin_with_distance_loss.

Value class ``ties`` (small integers) also plants one exact tie: the first triplet is
``a = p = (1, ..., 1)`` and ``n = a + (1, 0, ..., 0)``, so with swap ``d(a, n) = d(p, n)``
(the minimum splits its gradient 0.5/0.5) and, with ``eps=0`` and ``margin=1``, the hinge
sits exactly at ``margin + d(a, p) - d(a, n) = 0`` (torch passes the gradient there).

A user-supplied ``distance_function`` is a :class:`Distance`: one object that computes
with NumPy on arrays (for the reference) and with torch on tensors (for the target),
since it uses only operators both share, and that carries the NumPy ``backward`` the
reference's gradient needs. The harness passes it through unchanged.
"""

import numpy as np

import reference

from .. import domains, sizes
from ..dtypes import FORMATS, round_to
from ..registry import Call, ErrorCase, Gen, Spec

REDUCTIONS = ("mean", "sum", "none")
INF = float("inf")

# (D,) unbatched; N = 1; (N, D); extra leading dims; an empty batch.
SHAPES = ((5,), (1, 4), (4, 5), (2, 3, 4), (0, 5))
# D at vector boundaries and past 1024 (a norm's reduction), rows at the counts (the mean).
SIZES = sizes.rows(lambda n, d: (n, d), ("reduction", "mean"), block=(1025,))


def _sgn(x):
    return np.where(np.isnan(x), 0.0, np.sign(x))  # torch.sgn(nan) is 0


class Distance:
    """A distance ``d(x1, x2)`` over the last dimension, for both sides of the harness.

    ``formula`` uses only operators NumPy arrays and torch tensors share, so calling the
    object on arrays computes in NumPy and on tensors in torch (with autograd).
    ``backward(grad, x1, x2)`` returns NumPy gradients ``(grad * dd/dx1, grad * dd/dx2)``
    (each in its input's shape, or in the broadcast shape where summing over the broadcast
    dimensions is right), transcribing the chain torch's autograd runs through ``formula`` (so NaN and inf
    propagate as they do there).
    """

    def __init__(self, name, formula, backward):
        self.name, self.formula, self._backward = name, formula, backward

    def __call__(self, x1, x2):
        return self.formula(x1, x2)

    def backward(self, grad, x1, x2):
        with np.errstate(all="ignore"):
            return self._backward(np.asarray(grad, np.float64)[..., None], np.asarray(x1, np.float64),
                                  np.asarray(x2, np.float64))

    def __repr__(self):
        return f"<{self.name}>"


def _l1_backward(g, x1, x2):
    grad = g * _sgn(x1 - x2)  # abs' backward: grad * sgn
    return grad, -grad


def _cosine(x1, x2):
    return 1 - (x1 * x2).sum(-1) / ((x1 * x1).sum(-1) * (x2 * x2).sum(-1)) ** 0.5


def _cosine_backward(g, x1, x2):
    s = (x1 * x2).sum(-1)[..., None]
    q1, q2 = (x1 * x1).sum(-1)[..., None], (x2 * x2).sum(-1)[..., None]
    u = q1 * q2
    r = u**0.5
    g_w = -g  # d = 1 - w, w = s / r
    g_s, g_r = g_w / r, -g_w * s / (r * r)
    g_u = g_r * (0.5 * u**-0.5)
    g_q1, g_q2 = g_u * q2, g_u * q1
    # every term is summed back over the dimensions its input was broadcast along
    return (_sum_to(g_s * x2, x1.shape) + _sum_to(g_q1 * x1 + g_q1 * x1, x1.shape),
            _sum_to(g_s * x1, x2.shape) + _sum_to(g_q2 * x2 + g_q2 * x2, x2.shape))


def _sum_to(grad, shape):
    """``grad`` summed over the dimensions along which ``shape`` was broadcast (same ndim)."""
    axes = tuple(i for i, (m, n) in enumerate(zip(grad.shape, shape, strict=True)) if n == 1 and m != 1)
    return np.sum(grad, axis=axes, keepdims=True) if axes else grad


L1 = Distance("l1", lambda x1, x2: abs(x1 - x2).sum(-1), _l1_backward)
COSINE = Distance("cosine", _cosine, _cosine_backward)


def _inputs(rng, case):
    shape, dtype, values = case.shape, case.dtype, case.values
    p_shape = (1,) + tuple(shape[1:]) if case.option("positive") == Gen("broadcast") else shape
    a = domains.real(rng, shape, dtype, values)
    p = domains.real(rng, p_shape, dtype, values)
    n = domains.real(rng, shape, dtype, values)
    if values == "ties" and 0 not in shape:
        first = (0,) * (len(shape) - 1)
        a[first], p[first], n[first] = 1.0, 1.0, 1.0
        n[first + (0,)] = 2.0
    return a, p, n


def _away_from_kinks(a, p, n, case, distance):
    """Move the triplets whose hinge (or, with swap, whose minimum) sits within rounding of
    its kink, without being exactly on it, off the kink: there the case dtype's rounding
    alone decides which side the gradient takes. Such a triplet's negative moves away from
    the anchor by ``margin + d(a, p) + 1`` in every element, switching the hinge off."""
    with np.errstate(all="ignore"):
        d_ap, d_an, d_pn = distance(a, p), distance(a, n), distance(p, n)
        d_neg = np.minimum(d_an, d_pn) if case.option("swap") else d_an
        z = case.option("margin") + d_ap - d_neg
        close = 64 * FORMATS[case.dtype].unit_roundoff * (case.option("margin") + np.abs(d_ap) + np.abs(d_neg))
        near = (np.abs(z) < close) & (z != 0)
        if case.option("swap"):
            near |= (np.abs(d_an - d_pn) < close) & (d_an != d_pn)
        far = round_to(a + (case.option("margin") + np.abs(d_ap) + 1)[..., None], case.dtype)
    return np.where(near[..., None], far, n)


def _valid(case):
    low = case.dtype in ("float16", "bfloat16")
    # At the format's limits differences and norms overflow to inf, and torch's gradients
    # then come out as 0 (v / inf), not as the non-finite values the comparator accepts in
    # place of an overflowing exact result.
    if low and case.values == "extreme":
        return False
    # eps = 1e-6 is below the resolution of small integers in these formats: near-ties the
    # reference breaks by eps become exact ties in torch (p = inf then splits the gradient),
    # and for p > 2 a difference of eps alone underflows norm**(p - 1) to 0 (NaN gradient).
    # eps = 0 keeps the exact ties of this class exact in every format.
    options = dict(case.options)
    return not (low and case.values == "ties" and options.get("p") in (3, INF) and options.get("eps") != 0)


def _triplet_sample(rng, case):
    a, p, n = _inputs(rng, case)
    n = _away_from_kinks(a, p, n, case, lambda x, y: reference.pairwise_distance(x, y, case.option("p"),
                                                                                  case.option("eps")))
    return Call({"anchor": a, "positive": p, "negative": n, "margin": case.option("margin"), "p": case.option("p"),
                 "eps": case.option("eps"), "swap": case.option("swap"), "reduction": case.option("reduction")},
                positional=3)


def _distance_sample(rng, case):
    a, p, n = _inputs(rng, case)
    n = _away_from_kinks(a, p, n, case, case.option("distance_function") or reference.pairwise_distance)
    return Call({"anchor": a, "positive": p, "negative": n, "distance_function": case.option("distance_function"),
                 "margin": case.option("margin"), "swap": case.option("swap"),
                 "reduction": case.option("reduction")}, positional=3)


def _thin(case, secondary, primary):
    """cases.py takes the full product of the options; to stay near a thousand cases the
    ``secondary`` options (margin, eps, broadcasting) leave their default one at a time,
    with reduction='none' (every triplet's value and gradient visible), crossed with the
    ``primary`` ones, which form the full grid with every reduction."""
    changed = [name for name in secondary if case.option(name) != case.spec.options[name][0]]
    return not changed or (len(changed) == 1 and case.option("reduction") == "none"
                           and all(primary(name, case) for name in changed))


def _x(rng, *shape):
    return domains.logits(rng, shape, "float32")


def _call(a, p, n, **options):
    return Call({"anchor": a, "positive": p, "negative": n, **options}, positional=3)


def _errors():
    return (
        ErrorCase("(3, 4), reduction='avg'", lambda r: _call(_x(r, 3, 4), _x(r, 3, 4), _x(r, 3, 4), reduction="avg"),
                  ValueError),
        ErrorCase("(3, 4), margin=0.0", lambda r: _call(_x(r, 3, 4), _x(r, 3, 4), _x(r, 3, 4), margin=0.0),
                  ValueError),
        ErrorCase("(3, 4), margin=-1.0", lambda r: _call(_x(r, 3, 4), _x(r, 3, 4), _x(r, 3, 4), margin=-1.0),
                  ValueError),
        ErrorCase("anchor (4,), positive (3, 4)", lambda r: _call(_x(r, 4), _x(r, 3, 4), _x(r, 3, 4)), RuntimeError),
        ErrorCase("negative (3, 1, 4)", lambda r: _call(_x(r, 3, 4), _x(r, 3, 4), _x(r, 3, 1, 4)), RuntimeError),
        ErrorCase("positive (3, 5)", lambda r: _call(_x(r, 3, 4), _x(r, 3, 5), _x(r, 3, 4)), RuntimeError),
        ErrorCase("negative (2, 4)", lambda r: _call(_x(r, 3, 4), _x(r, 3, 4), _x(r, 2, 4)), RuntimeError),
    )


TRIPLET_MARGIN_LOSS = Spec(
    name="triplet_margin_loss",
    sample=_triplet_sample,
    shapes=SHAPES,
    options={
        "reduction": REDUCTIONS,
        "p": (2, 1, 0.5, 3, INF),
        "swap": (False, True),
        "eps": (1e-6, 0.0),
        "margin": (1.0, 0.5),
        "positive": (Gen("same"), Gen("broadcast")),
    },
    values=domains.VALUE_CLASSES,
    sizes=SIZES,
    differentiable=("anchor", "positive", "negative"),
    errors=_errors(),
    # eps=0 meets every p (a zero difference takes each p-branch's gradient convention);
    # margin and broadcasting need only p = 2 and p = 1.
    valid=lambda case: _valid(case) and _thin(case, ("eps", "margin", "positive"),
                                              lambda name, c: name == "eps" or c.option("p") in (2, 1)),
)

TRIPLET_MARGIN_WITH_DISTANCE_LOSS = Spec(
    name="triplet_margin_with_distance_loss",
    since={"function": "1.8"},
    sample=_distance_sample,
    shapes=SHAPES,
    options={
        "reduction": REDUCTIONS,
        "distance_function": (None, L1, COSINE),
        "swap": (False, True),
        "margin": (1.0, 0.5),
        "positive": (Gen("same"), Gen("broadcast")),
    },
    values=domains.VALUE_CLASSES,
    sizes=SIZES,
    differentiable=("anchor", "positive", "negative"),
    errors=_errors() + (
        ErrorCase("(3, 4), distance_function=<l1>, margin=0.0",
                  lambda r: _call(_x(r, 3, 4), _x(r, 3, 4), _x(r, 3, 4), distance_function=L1, margin=0.0),
                  ValueError),
    ),
    # A (1,) positive against a (D,) anchor makes the cosine distance's gradient with respect
    # to it exactly 0 by cancellation of O(1) terms: low precision leaves O(u) noise there.
    valid=lambda case: (_valid(case) and _thin(case, ("margin", "positive"), lambda name, c: True)
                        and not (case.option("distance_function") is COSINE and len(case.shape) == 1
                                 and case.option("positive") == Gen("broadcast"))),
)

SPECS = (TRIPLET_MARGIN_LOSS, TRIPLET_MARGIN_WITH_DISTANCE_LOSS)
