"""multi_margin_loss, multilabel_margin_loss, hinge_embedding_loss, margin_ranking_loss and
cosine_embedding_loss.

Besides the shared value classes, these losses use:

* ``hinge``: multiples of 0.5 in [-2, 2] (exact in every format), with margins that are
  multiples of 0.5 too, so many terms sit exactly on the hinge, where torch's kernels
  (strict ``z > 0``) and its ``clamp_min`` (``z >= 0``) differ in the gradient;
* ``small`` (cosine_embedding_loss): vectors of norm near 1e-6, where the 1e-12 that torch
  adds to each squared norm changes the cosine, and one zero vector, whose cosine it keeps at 0.
"""

import numpy as np

from .. import domains, sizes
from ..dtypes import round_to
from ..registry import Call, ErrorCase, Gen, Spec

REDUCTIONS = ("mean", "sum", "none")
MEAN = ("reduction", "mean")


def _rows(n, c):
    return (n, c)

# torch's CPU kernels of the two class-score losses have no float16/bfloat16 implementation
# ("multi_margin_loss_cpu_kernel" not implemented for 'Half').
SCORE_DTYPES = ("float64", "float32")


def _real(rng, shape, dtype, values):
    if values == "hinge":
        return round_to(rng.integers(-4, 5, size=tuple(shape)) / 2.0, dtype)
    if values == "small":
        return round_to(rng.standard_normal(tuple(shape)) * 1e-6, dtype)
    return domains.real(rng, shape, dtype, values)


def _x(rng, *shape):
    return domains.logits(rng, shape, "float32")


def _long(*values):
    return np.array(values, dtype=np.int64)


def _call(positional=2, **args):
    return Call(args, positional=positional)


# --- multi_margin_loss -------------------------------------------------------------------


def _multi_margin_sample(rng, case):
    shape = case.shape
    n_classes = 1 if not shape else shape[-1]
    x = _real(rng, shape, case.dtype, case.values)
    if len(shape) == 2:
        target = rng.integers(0, n_classes, size=shape[0])
        if shape[0] >= 2:  # both ends of the label range
            target[0], target[-1] = n_classes - 1, 0
    elif len(shape) == 1:
        target = np.array(n_classes - 1)
    else:
        target = np.zeros(1)  # a 0-D input with a (1,) target: the unreduced output is (1,)
    weight = None if case.option("weight") is None else domains.positive(rng, (n_classes,), case.dtype)
    return Call({"input": x, "target": target.astype(np.int64), "p": case.option("p"),
                 "margin": case.option("margin"), "weight": weight, "reduction": case.option("reduction")},
                positional=2)


def _mm(input, target, **options):
    return _call(input=input, target=target, **options)


MULTI_MARGIN_LOSS = Spec(
    name="multi_margin_loss",
    sample=_multi_margin_sample,
    shapes=((), (5,), (1, 5), (4, 5), (6, 1), (0, 5)),
    sizes=sizes.rows(_rows, MEAN, wide=True, block=(257, 1025)),
    options={
        "reduction": REDUCTIONS,
        "p": (1, 2),
        "margin": (1.0, 0.5, -1.0),
        "weight": (None, Gen("positive")),
    },
    dtypes=SCORE_DTYPES,
    values=domains.VALUE_CLASSES + ("hinge",),
    errors=(
        ErrorCase("(2, 3), reduction='avg'", lambda r: _mm(_x(r, 2, 3), _long(0, 1), reduction="avg"), ValueError),
        ErrorCase("(2, 3), p=3", lambda r: _mm(_x(r, 2, 3), _long(0, 1), p=3), ValueError),
        ErrorCase("(2, 3), p=0", lambda r: _mm(_x(r, 2, 3), _long(0, 1), p=0), ValueError),
        ErrorCase("(2, 3), weight of (1, 3)", lambda r: _mm(_x(r, 2, 3), _long(0, 1), weight=_x(r, 1, 3)),
                  ValueError),
        ErrorCase("(2, 3), weight of 4", lambda r: _mm(_x(r, 2, 3), _long(0, 1), weight=_x(r, 4)), RuntimeError),
        ErrorCase("(2, 0)", lambda r: _mm(_x(r, 2, 0), _long(0, 0)), RuntimeError),
        ErrorCase("(2, 3, 4)", lambda r: _mm(_x(r, 2, 3, 4), _long(0, 1)), RuntimeError),
        ErrorCase("(4, 3), target of 3", lambda r: _mm(_x(r, 4, 3), _long(0, 1, 2)), RuntimeError),
        ErrorCase("(2, 3), target of shape (2, 1)", lambda r: _mm(_x(r, 2, 3), _long(0, 1).reshape(2, 1)),
                  RuntimeError),
        ErrorCase("(3,), target=[1, 2]", lambda r: _mm(_x(r, 3), _long(1, 2)), RuntimeError),
        ErrorCase("(2, 3), float target", lambda r: _mm(_x(r, 2, 3), np.array([0.0, 1.0])), RuntimeError),
        ErrorCase("(2, 3), int32 target", lambda r: _mm(_x(r, 2, 3), np.array([0, 1], np.int32)), RuntimeError),
        ErrorCase("(2, 3), target=[0, 3]", lambda r: _mm(_x(r, 2, 3), _long(0, 3)), RuntimeError, cpu_only=True),
        ErrorCase("(2, 3), target=[-1, 0]", lambda r: _mm(_x(r, 2, 3), _long(-1, 0)), RuntimeError, cpu_only=True),
    ),
)


# --- multilabel_margin_loss --------------------------------------------------------------


def _label_row(rng, n_classes, kind):
    """One row of targets: labels, then -1, then in-range entries that must be ignored."""
    junk = rng.integers(-1, n_classes, size=n_classes)
    if kind == "full":  # no -1: every entry is a label, repeats included
        return rng.integers(0, n_classes, size=n_classes)
    if kind == "empty":
        return np.concatenate([[-1], junk[1:]])
    count = rng.integers(0, n_classes)  # leaves room for the -1
    labels = rng.integers(0, n_classes, size=count)  # repeats count twice
    return np.concatenate([labels, [-1], junk[count + 1:]])


def _multilabel_sample(rng, case):
    shape = case.shape
    n_classes = 1 if not shape else shape[-1]
    x = _real(rng, shape, case.dtype, case.values)
    kind = case.option("target").name
    rows = [_label_row(rng, n_classes, kind) for _ in range(int(np.prod(shape[:-1], dtype=np.int64)))]
    target = np.array(rows, dtype=np.int64).reshape(shape if shape else ())
    if kind == "padded" and len(shape) == 2 and shape[0] >= 2 and n_classes >= 2:
        target[0, :2] = (n_classes - 1, -1)  # both ends of the label range
        target[-1, :2] = (0, -1)
    return Call({"input": x, "target": target, "reduction": case.option("reduction")}, positional=2)


MULTILABEL_MARGIN_LOSS = Spec(
    name="multilabel_margin_loss",
    sample=_multilabel_sample,
    shapes=((), (5,), (1, 5), (4, 5), (6, 1), (0, 5)),
    sizes=sizes.rows(_rows, MEAN, block=(257, 1025)),
    options={"reduction": REDUCTIONS, "target": (Gen("padded"), Gen("full"), Gen("empty"))},
    dtypes=SCORE_DTYPES,
    values=domains.VALUE_CLASSES + ("hinge",),
    errors=(
        ErrorCase("(2, 3), reduction='avg'",
                  lambda r: _mm(_x(r, 2, 3), _long(0, -1, 1, 1, -1, 0).reshape(2, 3), reduction="avg"), ValueError),
        ErrorCase("(2, 3), target of shape (2,)", lambda r: _mm(_x(r, 2, 3), _long(0, 1)), RuntimeError),
        ErrorCase("(2, 3), target of shape ()", lambda r: _mm(_x(r, 2, 3), _long(0).reshape(())), RuntimeError),
        ErrorCase("(3,), target of shape (1, 3)", lambda r: _mm(_x(r, 3), _long(0, -1, 0).reshape(1, 3)),
                  RuntimeError),
        ErrorCase("(2, 0)", lambda r: _mm(_x(r, 2, 0), np.zeros((2, 0), np.int64)), RuntimeError),
        ErrorCase("(2, 3, 4)", lambda r: _mm(_x(r, 2, 3, 4), np.zeros((2, 3, 4), np.int64)), RuntimeError),
        ErrorCase("(2, 3), int32 target", lambda r: _mm(_x(r, 2, 3), np.zeros((2, 3), np.int32)), RuntimeError),
        ErrorCase("(2, 3), float target", lambda r: _mm(_x(r, 2, 3), np.zeros((2, 3))), RuntimeError),
        ErrorCase("(3,), target=[3, -1, 0]", lambda r: _mm(_x(r, 3), _long(3, -1, 0)), RuntimeError, cpu_only=True),
        ErrorCase("(3,), target=[-2, -1, 0]", lambda r: _mm(_x(r, 3), _long(-2, -1, 0)), RuntimeError,
                  cpu_only=True),
        ErrorCase("(3,), target=[0, -1, 3]: checked after the -1 too",
                  lambda r: _mm(_x(r, 3), _long(0, -1, 3)), RuntimeError, cpu_only=True),
    ),
)


# --- hinge_embedding_loss ----------------------------------------------------------------


def _signs(rng, shape):
    return rng.choice([-1.0, 1.0], size=tuple(shape))


def _hinge_embedding_sample(rng, case):
    x = _real(rng, case.shape, case.dtype, case.values)
    kind = case.option("target").name
    if kind == "other":  # torch gives any y outside {1, -1} both terms
        target = rng.choice([-1.0, 1.0, 0.0, 2.0, 0.5], size=case.shape)
    elif kind == "broadcast":  # the input broadcasts along a new leading dimension
        target = _signs(rng, (2,) + case.shape)
    else:
        target = _signs(rng, case.shape)
    return Call({"input": x, "target": round_to(target, case.dtype), "margin": case.option("margin"),
                 "reduction": case.option("reduction")}, positional=2)


def _no_low_precision_cancellation(case):
    # With both terms in one element (y outside {1, -1}) or summed across a broadcast
    # dimension, x + (margin - x) cancels: at |x| near float16's maximum, margin - x rounds
    # to -x and the result is 0 instead of margin, an error of the size of the margin that no
    # budget relative to the result covers. It is the rounding of the format, not torch.
    return not (case.values == "extreme" and case.dtype in ("float16", "bfloat16")
                and case.option("target").name in ("other", "broadcast"))


HINGE_EMBEDDING_LOSS = Spec(
    name="hinge_embedding_loss",
    sample=_hinge_embedding_sample,
    shapes=((), (5,), (4, 5), (2, 3, 4), (0,), (0, 3)),
    sizes=sizes.elementwise(MEAN),
    options={
        "reduction": REDUCTIONS,
        "margin": (1.0, 0.5, -0.5),
        "target": (Gen("pm1"), Gen("other"), Gen("broadcast")),
    },
    values=domains.VALUE_CLASSES + ("hinge",),
    valid=_no_low_precision_cancellation,
    errors=(
        ErrorCase("(3,), reduction='avg'", lambda r: _mm(_x(r, 3), _signs(r, (3,)), reduction="avg"), ValueError),
        ErrorCase("(3,), target of shape (4,)", lambda r: _mm(_x(r, 3), _signs(r, (4,))), RuntimeError),
        ErrorCase("(2, 3), target of shape (3, 2)", lambda r: _mm(_x(r, 2, 3), _signs(r, (3, 2))), RuntimeError),
    ),
)


# --- margin_ranking_loss -----------------------------------------------------------------


def _ranking_shapes(shape, kind):
    """Shapes of input2 and target: equal to input1's, or broadcasting against it."""
    if kind != "broadcast" or not shape:
        return shape, shape
    return (1,) + shape[1:], shape[:-1] + (1,)


def _margin_ranking_sample(rng, case):
    kind = case.option("target").name
    shape2, target_shape = _ranking_shapes(case.shape, kind)
    x1 = _real(rng, case.shape, case.dtype, case.values)
    x2 = _real(rng, shape2, case.dtype, case.values)
    if kind == "real":  # torch does not check the target: any real value ranks (and has a gradient)
        target = domains.real(rng, target_shape, case.dtype)
    else:
        target = round_to(_signs(rng, target_shape), case.dtype)
    return Call({"input1": x1, "input2": x2, "target": target, "margin": case.option("margin"),
                 "reduction": case.option("reduction")}, positional=3)


def _mr(input1, input2, target, **options):
    return _call(positional=3, input1=input1, input2=input2, target=target, **options)


MARGIN_RANKING_LOSS = Spec(
    name="margin_ranking_loss",
    sample=_margin_ranking_sample,
    shapes=((), (5,), (4, 5), (2, 3, 4), (0,), (0, 3)),
    sizes=sizes.elementwise(MEAN),
    options={
        "reduction": REDUCTIONS,
        "margin": (0, 1.0, -0.5),
        "target": (Gen("pm1"), Gen("real"), Gen("broadcast")),
    },
    values=domains.VALUE_CLASSES + ("hinge",),
    differentiable=("input1", "input2", "target"),
    errors=(
        ErrorCase("(3,), reduction='avg'", lambda r: _mr(_x(r, 3), _x(r, 3), _signs(r, (3,)), reduction="avg"),
                  ValueError),
        ErrorCase("(5, 4), (5, 4), target of shape (5,)",
                  lambda r: _mr(_x(r, 5, 4), _x(r, 5, 4), _signs(r, (5,))), RuntimeError),
        ErrorCase("(5, 4), input2 of shape (4,)", lambda r: _mr(_x(r, 5, 4), _x(r, 4), _signs(r, (5, 4))),
                  RuntimeError),
        ErrorCase("(3,), input2 of shape (4,)", lambda r: _mr(_x(r, 3), _x(r, 4), _signs(r, (3,))), RuntimeError),
        ErrorCase("(3, 1), (1, 4), target of shape (3, 5)",
                  lambda r: _mr(_x(r, 3, 1), _x(r, 1, 4), _signs(r, (3, 5))), RuntimeError),
    ),
)


# --- cosine_embedding_loss ---------------------------------------------------------------


def _orthogonal(a):
    """A vector orthogonal to each row of ``a`` with an exactly zero dot product: pairs of
    coordinates rotated by 90 degrees, an odd last coordinate set to 0."""
    b = np.zeros_like(a)
    pairs = a.shape[-1] // 2 * 2
    b[..., 0:pairs:2] = -a[..., 1:pairs:2]
    b[..., 1:pairs:2] = a[..., 0:pairs:2]
    return b


def _nonzero_rows(x):
    """Zero vectors only where a case asks for them: in float16 torch turns them into NaN
    (see margin.toml), and the ``small`` class and the ``D = 0`` shape cover them."""
    if x.ndim and x.shape[-1]:
        rows = x.reshape(-1, x.shape[-1])
        rows[np.all(rows == 0, axis=1), 0] = 1.0
    return x


def _no_half_precision_extremes(case):
    # At float16's and bfloat16's maximum the squared norms overflow to inf and torch returns
    # a finite cosine of 0, where the harness accepts only a non-finite result for overflow;
    # the float16 product overflow is recorded in margin.toml instead.
    return not (case.values == "extreme" and case.dtype in ("float16", "bfloat16"))


def _cosine_sample(rng, case):
    kind = case.option("target").name
    shape = case.shape
    shape2 = (1,) + shape[1:] if kind == "broadcast" and len(shape) == 2 else shape
    x1 = _nonzero_rows(_real(rng, shape, case.dtype, case.values))
    x2 = _nonzero_rows(_real(rng, shape2, case.dtype, case.values))
    if case.values == "hinge" and shape[-1] >= 2:  # cos = 0 exactly: on the hinge for y = -1, margin 0
        x2 = _orthogonal(np.broadcast_to(x1, np.broadcast_shapes(shape, shape2)))
    if case.values == "small" and x1.size:
        x1.reshape(-1, shape[-1])[0] = 0.0
    batch = shape[:-1]
    if kind == "other":  # torch gives any y outside {1, -1} a loss of 0
        target = rng.choice([-1.0, 1.0, 0.0, 2.0], size=batch)
    else:
        target = _signs(rng, batch)
    if (case.values == "small" or shape[-1] == 0) and target.size:
        target.flat[0] = 1.0  # so that float16 reliably gives NaN (margin.toml)
    return Call({"input1": x1, "input2": x2, "target": round_to(target, case.dtype),
                 "margin": case.option("margin"), "reduction": case.option("reduction")}, positional=3)


COSINE_EMBEDDING_LOSS = Spec(
    name="cosine_embedding_loss",
    sample=_cosine_sample,
    # D = 1 is left out: there the gradient is identically 0, but torch forms it as the
    # difference of two terms of size 1 / |b|, which half precision cannot resolve.
    shapes=((5,), (1, 5), (4, 5), (4, 2), (3, 0), (0, 5)),
    sizes=sizes.rows(_rows, MEAN, block=(1025,)),  # D past 16 and 1024; rows at the counts
    options={
        "reduction": REDUCTIONS,
        "margin": (0, 0.5, -0.5),
        "target": (Gen("pm1"), Gen("other"), Gen("broadcast")),
    },
    values=domains.VALUE_CLASSES + ("hinge", "small"),
    valid=_no_half_precision_extremes,
    differentiable=("input1", "input2"),
    errors=(
        ErrorCase("(3, 5), reduction='avg'",
                  lambda r: _mr(_x(r, 3, 5), _x(r, 3, 5), _signs(r, (3,)), reduction="avg"), ValueError),
        ErrorCase("(5,), (5,), target of shape (5,)", lambda r: _mr(_x(r, 5), _x(r, 5), _signs(r, (5,))),
                  RuntimeError),
        ErrorCase("(3, 5), (3, 5), target of shape ()",
                  lambda r: _mr(_x(r, 3, 5), _x(r, 3, 5), np.array(1.0)), RuntimeError),
        ErrorCase("(2, 3, 5), (2, 3, 5), target of shape (2,)",
                  lambda r: _mr(_x(r, 2, 3, 5), _x(r, 2, 3, 5), _signs(r, (2,))), RuntimeError),
        ErrorCase("(3, 5), (3, 5), target of shape (3, 1)",
                  lambda r: _mr(_x(r, 3, 5), _x(r, 3, 5), _signs(r, (3, 1))), RuntimeError),
        ErrorCase("(2, 5), (2, 6)", lambda r: _mr(_x(r, 2, 5), _x(r, 2, 6), _signs(r, (2,))), RuntimeError),
        ErrorCase("(3, 5), (4, 5)", lambda r: _mr(_x(r, 3, 5), _x(r, 4, 5), _signs(r, (3,))), RuntimeError),
        ErrorCase("(3, 5), (3, 5), target of shape (4,)",
                  lambda r: _mr(_x(r, 3, 5), _x(r, 3, 5), _signs(r, (4,))), RuntimeError),
    ),
)

SPECS = (MULTI_MARGIN_LOSS, MULTILABEL_MARGIN_LOSS, HINGE_EMBEDDING_LOSS, MARGIN_RANKING_LOSS,
         COSINE_EMBEDDING_LOSS)
