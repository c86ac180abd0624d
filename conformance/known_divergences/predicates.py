"""The code the property records of ``known_divergences/*.toml`` name, where data cannot say it.

A predicate takes a drawn case of the property search (:class:`conformance.properties.strategies.DrawnCase`)
and says whether it falls in the divergence (the case is then not judged). A reproducer takes
the target's loss and its name, runs a concrete call, and returns True while torch still
diverges, so a fix upstream makes ``test_known_divergence_still_diverges`` fail.
"""

import math
import warnings

import numpy as np
import torch

import reference

from ..domains import LOW_PRECISION, exp_overflows
from ..dtypes import FORMATS, round_to
from ..specs.triplet import COSINE


def _arrays(drawn, *names):
    return [np.asarray(drawn.call.args[name], dtype=np.float64) for name in names]


# --- binary ----------------------------------------------------------------------------------


def bce_half_certain(drawn):
    p, y = _arrays(drawn, "input", "target")
    p, y = np.broadcast_arrays(p, y)
    return drawn.dtype == "float16" and bool(np.any((p == y) & ((p == 0) | (p == 1))))


def reproduce_bce_half_certain(loss, function):
    p = torch.zeros(1, dtype=torch.float16, requires_grad=True)
    loss(p, torch.zeros(1, dtype=torch.float16)).backward()
    return bool(torch.isnan(p.grad).any())


def bce_subnormal_input(drawn):
    (p,) = _arrays(drawn, "input")
    return drawn.dtype != "float64" and bool(np.any((p > 0) & (p < FORMATS[drawn.dtype].tiny)))


def reproduce_bce_subnormal_input(loss, function):
    p = torch.full((5,), 2.0**-24, dtype=torch.float16, requires_grad=True)
    out = loss(p, torch.zeros(5, dtype=torch.float16))
    (grad,) = torch.autograd.grad(out, p, torch.tensor(0.2059326171875, dtype=torch.float16))
    return bool(torch.any(grad == 0))  # exact: 0.2059 / 5 / (1 - p) = 0.0412


def infinite_logit(drawn):
    return bool(np.any(np.isinf(drawn.call.args["input"])))


def reproduce_infinite_logit(loss, function):
    return bool(torch.isnan(loss(torch.tensor([-math.inf]), torch.tensor([0.0]))))


def soft_margin_overflow(drawn):
    with np.errstate(invalid="ignore", over="ignore"):
        z = -drawn.call.args["target"] * drawn.call.args["input"]
        z = np.where(np.isnan(z), 0.0, z)  # z = +inf overflows exp too (inf / inf in the gradient)
        return bool(np.any(np.exp(z) > FORMATS[drawn.dtype].max)
                    or drawn.dtype in LOW_PRECISION and np.any(np.abs(z) >= 11))


def reproduce_soft_margin_overflow(loss, function):
    return bool(torch.isinf(loss(torch.tensor([-128.0]), torch.tensor([1.0]))))


def multilabel_infinite_logit(drawn):
    x, y = _arrays(drawn, "input", "target")
    x, y = np.broadcast_arrays(x, y)
    return bool(np.any((x == math.inf) & (y == 1) | (x == -math.inf) & (y == 0)))


def weighted_multilabel_infinite_logit(drawn):
    return drawn.call.args.get("weight") is not None and multilabel_infinite_logit(drawn)


def reproduce_multilabel_infinite_logit(loss, function):
    return bool(torch.isnan(loss(torch.tensor([[math.inf]]), torch.tensor([[1.0]]))))


# --- margin ----------------------------------------------------------------------------------


def empty_batch(drawn):
    x = drawn.call.args["input"]
    return x.ndim == 2 and x.shape[0] == 0


def reproduce_uninitialized_empty_output(loss, function):
    x, t = torch.empty(0, 5), torch.empty((0,) if function == "multi_margin_loss" else (0, 5), dtype=torch.long)
    # Fresh memory holds the expected 0 now and then: any of a few runs shows the bug.
    return any(loss(x, t, reduction="sum").item() != 0.0 for _ in range(50))


def cosine_half_norms(drawn):
    """float16 rows whose squared norms, or their product, leave float16's normal range."""
    if drawn.dtype != "float16":
        return False
    a, b = _arrays(drawn, "input1", "input2")
    with np.errstate(invalid="ignore", over="ignore"):
        s1, s2 = np.sum(a * a, axis=-1), np.sum(b * b, axis=-1)
        fmt = FORMATS["float16"]
        out = [s < fmt.tiny for s in (s1, s2, s1 * s2)] + [s > fmt.max for s in (s1, s2, s1 * s2)]
    return bool(np.any(np.logical_or.reduce(np.broadcast_arrays(*out))))


def reproduce_cosine_half_norms(loss, function):
    zero, one = torch.zeros(1, 2, dtype=torch.float16), torch.tensor([[1.0, 0.0]], dtype=torch.float16)
    a = torch.tensor([[20.0, 0.0]], dtype=torch.float16)
    y = torch.tensor([1.0])
    return bool(torch.isnan(loss(zero, one, y))) and loss(a, a, y).item() == 1.0  # exact: NaN -> 0 (cos 0), 0


def cosine_empty_broadcast(drawn):
    """One input of an empty batch broadcast against a one-row input holding inf or NaN."""
    x1, x2 = _arrays(drawn, "input1", "input2")
    if x1.ndim != 2 or x2.ndim != 2 or (x1.shape[0] == 0) == (x2.shape[0] == 0):
        return False
    full = x2 if x1.shape[0] == 0 else x1
    return not bool(np.all(np.isfinite(full)))


def reproduce_cosine_empty_broadcast(loss, function):
    x1 = torch.empty(0, 5, dtype=torch.float64, requires_grad=True)
    x2 = torch.full((1, 5), math.nan, dtype=torch.float64, requires_grad=True)
    out = loss(x1, x2, torch.empty(0, dtype=torch.float64), reduction="sum")
    (grad,) = torch.autograd.grad(out, x2)
    return bool(torch.isnan(grad).any())  # exact: 0, the sum over no sample


# --- probabilistic ---------------------------------------------------------------------------


def float32_exp_overflow(drawn):
    return drawn.dtype == "float32" and exp_overflows(drawn.function, "float32", drawn.call)


def kl_subnormal_target(drawn):
    args = drawn.call.args
    if drawn.dtype == "float64" or args["log_target"]:
        return False
    t = np.asarray(args["target"], dtype=np.float64)
    return bool(np.any((t > 0) & (t < FORMATS[drawn.dtype].tiny)))


def reproduce_kl_subnormal_target(loss, function):
    t = torch.tensor([4.76837158203125e-07], dtype=torch.float16, requires_grad=True)
    g = 0.2059326171875
    out = loss(torch.zeros(1, dtype=torch.float16), t, reduction="sum")
    (grad,) = torch.autograd.grad(out, t, torch.tensor(g, dtype=torch.float16))
    exact = g * (math.log(t.item()) + 1)
    return abs(grad.item() - exact) > 2 * 2.0**-8 * abs(exact)  # twice the float16 budget (1.6% now)


def reproduce_kl_exp_overflow(loss, function):
    x, t = torch.tensor([200.0, 0.0]), torch.tensor([100.0, 100.0])
    # exact: e**100 (100 - 200) + e**100 (100 - 0) = 0
    return bool(torch.isnan(loss(x, t, reduction="sum", log_target=True)))


def poisson_inf_minus_inf(drawn):
    args = drawn.call.args
    if not args["log_input"]:
        return False
    with np.errstate(invalid="ignore", over="ignore"):
        x, t = np.broadcast_arrays(args["input"], args["target"])
        return bool(np.any(np.isinf(round_to(t * x, drawn.dtype)) & np.isinf(np.exp(np.minimum(x, 1e4)))))


def reproduce_poisson_inf_minus_inf(loss, function):
    x = torch.tensor([3.3895313892515355e38], dtype=torch.bfloat16)
    return bool(torch.isnan(loss(x, torch.tensor(2.0, dtype=torch.bfloat16))))


def poisson_eps_underflow(drawn):
    args = drawn.call.args
    return (drawn.dtype == "float16" and not args["log_input"] and args["eps"] < 2.0**-25
            and bool(np.any(args["input"] == 0)))


def reproduce_poisson_eps_underflow(loss, function):
    zero = torch.zeros((), dtype=torch.float16)
    return bool(torch.isnan(loss(zero, zero, log_input=False, eps=1e-8)))


def reproduce_poisson_exp_overflow(loss, function):
    out = loss(torch.tensor([89.0, 0.0]), torch.zeros(2), reduction="mean")
    return bool(torch.isinf(out))  # exact: (e**89 + 1) / 2 = 2.24e38, below float32's maximum


def tiny_half_variance(drawn):
    var, eps = drawn.call.args["var"], drawn.call.args["eps"]
    return drawn.dtype == "float16" and float(np.min(np.maximum(var, eps), initial=np.inf)) < 1 / 65504


def reproduce_tiny_half_variance(loss, function):
    x = torch.zeros(3, dtype=torch.float16, requires_grad=True)
    loss(x, torch.zeros(3, dtype=torch.float16), 0.0).backward()
    return bool(torch.isnan(x.grad).any())


# --- regression ------------------------------------------------------------------------------


def mean_over_one_weight(drawn):
    args = drawn.call.args
    weight = args.get("weight")
    return (drawn.dtype in LOW_PRECISION and args.get("reduction", "mean") == "mean"
            and isinstance(weight, np.ndarray) and weight.size == 1)


def reproduce_mean_over_one_weight(loss, function):
    w = torch.tensor(0.71630859375, dtype=torch.float16, requires_grad=True)
    x, t = torch.tensor(2.0, dtype=torch.float16), torch.tensor([-2.0], dtype=torch.float16)
    with warnings.catch_warnings():  # the broadcast of () against (1,) is the point
        warnings.simplefilter("ignore")
        out = loss(x, t, reduction="mean", weight=w)
    (grad,) = torch.autograd.grad(out, w, torch.tensor(1.06640625, dtype=torch.float16))
    return grad.item() != 0.0


# --- triplet ---------------------------------------------------------------------------------


def triplet_half_tiny_distance(drawn):
    """float16, finite p > 2, and a distance d with d**(p - 1) below float16's smallest normal."""
    args = drawn.call.args
    p = args["p"]
    if drawn.dtype != "float16" or not 2 < p < math.inf:
        return False
    a, pos, neg = _arrays(drawn, "anchor", "positive", "negative")
    pairs = [(a, pos), (a, neg)] + ([(pos, neg)] if args["swap"] else [])
    with np.errstate(invalid="ignore", over="ignore"):
        distances = [np.sum(np.abs(x - y + args["eps"]) ** p, axis=-1) ** (1 / p) for x, y in pairs]
        return any(bool(np.any(d ** (p - 1) < FORMATS["float16"].tiny)) for d in distances)


def reproduce_triplet_half_tiny_distance(loss, function):
    z = torch.zeros(1, 4, dtype=torch.float16, requires_grad=True)
    out = loss(z, z.detach(), z.detach(), p=3)
    (grad,) = torch.autograd.grad(out, z)
    return bool(torch.isnan(grad).any())


def _triplet_distance(drawn):
    """The drawn case's distance ``d(x1, x2)``, evaluated in float64."""
    args = drawn.call.args
    if drawn.function == "triplet_margin_loss":
        return lambda x1, x2: reference.pairwise_distance(x1, x2, args["p"], args["eps"])
    return args.get("distance_function") or reference.pairwise_distance


def triplet_near_kink(drawn):
    """Below float64, a triplet whose hinge ``margin + d(a, p) - d_-`` or, with swap, whose
    minimum ``min(d(a, n), d(p, n))``, or with p = inf the maximum of a difference's
    elements, sits within the case dtype's rounding of its kink (exactly on it included:
    the rounded inputs and eps need not keep an exact tie)."""
    if drawn.dtype == "float64":
        return False
    args = drawn.call.args
    a, pos, neg = _arrays(drawn, "anchor", "positive", "negative")
    distance = _triplet_distance(drawn)
    with np.errstate(all="ignore"):
        d_ap, d_an = np.asarray(distance(a, pos), np.float64), np.asarray(distance(a, neg), np.float64)
        d_pn = np.asarray(distance(pos, neg), np.float64) if args["swap"] else d_an
        d_neg = np.minimum(d_an, d_pn)
        close = 16 * FORMATS[drawn.dtype].unit_roundoff * (args["margin"] + np.abs(d_ap) + np.abs(d_neg))
        near = np.abs(args["margin"] + d_ap - d_neg) <= close
        if args["swap"]:
            near |= np.abs(d_an - d_pn) <= close
        if drawn.function == "triplet_margin_loss" and args["p"] == math.inf:
            # the max-norm's gradient goes to its largest elements: two within rounding tie
            for x, y in [(a, pos), (a, neg)] + ([(pos, neg)] if args["swap"] else []):
                v = np.abs(x - y + args["eps"])
                top = np.max(v, axis=-1, initial=0.0, keepdims=True)
                near |= np.sum(v >= top * (1 - 16 * FORMATS[drawn.dtype].unit_roundoff), axis=-1) > 1
    return bool(np.any(near))


def reproduce_triplet_tie(loss, function):
    a, p, n = np.zeros((1, 4)), np.array([[2.0, 0.0, 0.0, 0.0]]), np.ones((1, 4))
    options = {"p": 3} if function == "triplet_margin_loss" else {}  # the other: p = 2 (its default)
    backward = getattr(reference, f"{function}_backward")
    expected = backward(np.float64(1.0), a, p, n, swap=True, **options)["anchor"]
    anchor, positive, negative = (torch.tensor(x, dtype=torch.float16, requires_grad=True) for x in (a, p, n))
    out = loss(anchor, positive, negative, swap=True, **options)
    (grad,) = torch.autograd.grad(out, anchor)
    return bool(np.max(np.abs(grad.double().numpy() - expected)) > 0.1)  # 0.2 or 0.25 off (a 0.5/0.5 split)


def cosine_distance_out_of_range(drawn):
    """The cosine distance with a squared row norm, or the product of two, outside the case
    dtype's normal range (the user-supplied distance computes them in that dtype)."""
    args = drawn.call.args
    if args.get("distance_function") is not COSINE:
        return False
    fmt = FORMATS[drawn.dtype]
    rows = _arrays(drawn, "anchor", "positive", "negative")
    with np.errstate(all="ignore"):
        squares = [np.sum(x * x, axis=-1) for x in rows]
        products = [x * y for i, x in enumerate(squares) for y in squares[i + 1:]]
        return any(bool(np.any((s < fmt.tiny) | (s > fmt.max))) for s in squares + products)


def reproduce_cosine_distance_out_of_range(loss, function):
    x = torch.full((1, 4), 6.8e-21, requires_grad=True)
    one = torch.ones(1, 4)
    out = loss(one, x, 2 * one, distance_function=COSINE)
    (grad,) = torch.autograd.grad(out, x)
    return not bool(torch.isfinite(grad).all())  # exact: 0 (x is parallel to the anchor: d(a, x) = 0 is least)
