"""nll_loss and cross_entropy."""

import numpy as np

from .. import domains, sizes
from ..registry import Call, ErrorCase, Gen, ShapeDependent, Spec
from ..sizes import Size

REDUCTIONS = ("mean", "sum", "none")

# (C,) unbatched; (N, C) with N = 1 and C = 1; K = 1, 2, 3 spatial dims; empty batches.
SHAPES = ((5,), (4, 5), (1, 5), (4, 1), (3, 4, 5), (2, 3, 4, 5), (2, 3, 2, 2, 2), (0, 5), (0, 3, 2))


def n_classes(shape):
    return shape[0] if len(shape) == 1 else shape[1]


def class_axis(shape):
    return 0 if len(shape) == 1 else 1


def batch_shape(shape):
    return () if len(shape) == 1 else (shape[0],) + tuple(shape[2:])


MEAN = ("reduction", "mean")


def _sizes(plain, weighted):
    """Rows of C classes at vector and block boundaries, an index past int16, a vocabulary and a
    K-dimensional input with a spatial size past a 1024-block; and the mean's count and total weight
    at the half-precision limits, each once with the ``plain`` options (torch's defaults in every
    dtype) and once ``weighted`` (the other options in rotation)."""
    counts, overflow = tuple((n, 3) for n in sizes.COUNTS), ((sizes.HALF_OVERFLOW, 3),)
    count_why = "a row count or total weight a half-precision accumulator cannot hold exactly"
    overflow_why = "a row count or total weight past float16's largest finite value"
    return sizes.rows(lambda n, c: (n, c), wide=True, counts=()) + (
        Size("count", counts, (MEAN, *plain), count_why),
        Size("count", counts, (MEAN, *weighted), count_why),
        Size("half overflow", overflow, (MEAN, *plain), overflow_why),
        Size("half overflow", overflow, (MEAN, *weighted), overflow_why),
        Size("vocabulary", tuple((2, c) for c in sizes.VOCABULARY), why="a vocabulary whose last block is partial"),
        Size("spatial", ((2, 3, sizes.SPATIAL),), why="the K-dimensional path past a 1024-block"),
    )


# A class index inside [0, C): 1 when there is a class 1, else 0 (so C = 1 ignores every target).
INSIDE = ShapeDependent("inside", lambda shape: min(1, n_classes(shape) - 1))


def _targets(rng, case, kind="int64"):
    ignore_index = case.option("ignore_index")
    if kind == "uint8" and not 0 <= ignore_index < 256:
        ignore_index = None  # a uint8 target cannot hold it
    if getattr(case, "regime", "") in sizes.COUNTING and ignore_index == -100:
        ignore_index = None  # every target kept: the mean's count is the regime's (257, 2049, 65537)
    return domains.class_targets(rng, batch_shape(case.shape), n_classes(case.shape), ignore_index,
                                 dtype=np.uint8 if kind == "uint8" else np.int64)


def _weight(rng, case):
    if case.option("weight") is None:
        return None
    return domains.positive(rng, (n_classes(case.shape),), case.dtype)


def _nll_sample(rng, case):
    x = domains.log_probabilities(rng, case.shape, case.dtype, case.values, axis=class_axis(case.shape))
    target = _targets(rng, case, case.option("target").name)
    return Call({"input": x, "target": target, "weight": _weight(rng, case),
                 "ignore_index": case.option("ignore_index"), "reduction": case.option("reduction")},
                positional=2)


def _ce_sample(rng, case):
    x = domains.logits(rng, case.shape, case.dtype, case.values)
    if case.option("target").name == "probs":
        target = domains.probabilities(rng, case.shape, case.dtype, axis=class_axis(case.shape))
    else:
        target = _targets(rng, case)
    return Call({"input": x, "target": target, "weight": _weight(rng, case),
                 "ignore_index": case.option("ignore_index"), "reduction": case.option("reduction"),
                 "label_smoothing": case.option("label_smoothing")}, positional=2)


def _x(rng, *shape):
    return domains.logits(rng, shape, "float32")


def _t(*values, dtype=np.int64):
    return np.array(values, dtype=dtype)


def _call(input, target, **options):
    return Call({"input": input, "target": target, **options}, positional=2)


def _common_errors(name):
    """Invalid calls shared by nll_loss and cross_entropy."""
    return (
        ErrorCase("(2, 3), reduction='avg'", lambda r: _call(_x(r, 2, 3), _t(0, 1), reduction="avg"), ValueError),
        ErrorCase("(2, 3), target=[0, 3]", lambda r: _call(_x(r, 2, 3), _t(0, 3)), IndexError, cpu_only=True),
        ErrorCase("(2, 3), target=[0, -1]", lambda r: _call(_x(r, 2, 3), _t(0, -1)), IndexError, cpu_only=True),
        ErrorCase("(2, 3), target=[0, 3], ignore_index=1",
                  lambda r: _call(_x(r, 2, 3), _t(0, 3), ignore_index=1), IndexError, cpu_only=True),
        ErrorCase("(4, 3), target of batch 3", lambda r: _call(_x(r, 4, 3), _t(0, 1, 2)), ValueError),
        ErrorCase("(2, 3, 5), target of shape (2, 4)",
                  lambda r: _call(_x(r, 2, 3, 5), np.zeros((2, 4), np.int64)), RuntimeError),
        ErrorCase("(2, 3), target of shape (2, 1)",
                  lambda r: _call(_x(r, 2, 3), np.zeros((2, 1), np.int64)), RuntimeError),
        ErrorCase("(3,), target=[1, 2]", lambda r: _call(_x(r, 3), _t(1, 2)), ValueError),
        ErrorCase("(2, 3), weight of 2", lambda r: _call(_x(r, 2, 3), _t(0, 1), weight=_x(r, 2)), RuntimeError),
        ErrorCase("(2, 3), weight of (1, 3)", lambda r: _call(_x(r, 2, 3), _t(0, 1), weight=_x(r, 1, 3)),
                  RuntimeError),
        ErrorCase("(2, 3), float target", lambda r: _call(_x(r, 2, 3), _t(0, 1, dtype=np.float64)), RuntimeError),
        ErrorCase("(2, 3), int32 target", lambda r: _call(_x(r, 2, 3), _t(0, 1, dtype=np.int32)), RuntimeError),
        ErrorCase("(2, 3), bool target", lambda r: _call(_x(r, 2, 3), _t(0, 1, dtype=np.bool_)), RuntimeError),
    )


NLL_LOSS = Spec(
    name="nll_loss",
    sample=_nll_sample,
    shapes=SHAPES,
    options={
        "reduction": REDUCTIONS,
        "weight": (None, Gen("positive")),
        "ignore_index": (-100, INSIDE, -1),
        "target": (Gen("int64"), Gen("uint8")),
    },
    values=domains.VALUE_CLASSES,
    errors=_common_errors("nll_loss") + (
        ErrorCase("(), target=0", lambda r: _call(_x(r), _t(0).reshape(())), ValueError),
    ),
    sizes=_sizes((("weight", None), ("ignore_index", -100)), (("weight", Gen("positive")),)),
    # uint8 cannot hold -1 (255 is then simply an out-of-range class: an error case), nor a class past 255.
    valid=lambda case: not (case.option("target").name == "uint8"
                            and (case.option("ignore_index") == -1 or n_classes(case.shape) > 256)),
)

CROSS_ENTROPY = Spec(
    name="cross_entropy",
    sample=_ce_sample,
    shapes=SHAPES,
    options={
        "reduction": REDUCTIONS,
        "weight": (None, Gen("positive")),
        "ignore_index": (-100, INSIDE, -1),
        "label_smoothing": (0.0, 0.1, 1.0),
        "target": (Gen("index"), Gen("probs")),
    },
    values=domains.VALUE_CLASSES,
    differentiable=("input", "target"),
    since={"label_smoothing": "1.10", "target=<probs>": "1.10"},
    # the counts: a class-index mean divides by the total weight of its targets
    sizes=_sizes((("weight", None), ("ignore_index", -100), ("label_smoothing", 0.0), ("target", Gen("index"))),
                 (("weight", Gen("positive")), ("target", Gen("index")))),
    errors=_common_errors("cross_entropy") + (
        ErrorCase("(2, 3), label_smoothing=1.5",
                  lambda r: _call(_x(r, 2, 3), _t(0, 1), label_smoothing=1.5), RuntimeError),
        ErrorCase("(2, 3), label_smoothing=-0.1",
                  lambda r: _call(_x(r, 2, 3), _t(0, 1), label_smoothing=-0.1), RuntimeError),
        ErrorCase("(2, 3), probs, label_smoothing=-0.1",
                  lambda r: _call(_x(r, 2, 3), domains.probabilities(r, (2, 3), "float32"), label_smoothing=-0.1),
                  RuntimeError),
        ErrorCase("(2, 3), probs of shape (2, 4)",
                  lambda r: _call(_x(r, 2, 3), domains.probabilities(r, (2, 4), "float32")), RuntimeError),
        ErrorCase("(2, 3, 4), probs of shape (2, 3)",
                  lambda r: _call(_x(r, 2, 3, 4), domains.probabilities(r, (2, 3), "float32")), RuntimeError),
        ErrorCase("(2, 3), int64 target of shape (2, 3)",
                  lambda r: _call(_x(r, 2, 3), np.ones((2, 3), np.int64)), RuntimeError),
        ErrorCase("(2, 3), probs, ignore_index=1",
                  lambda r: _call(_x(r, 2, 3), domains.probabilities(r, (2, 3), "float32"), ignore_index=1),
                  RuntimeError),
        ErrorCase("(2, 3), probs, weight of 2",
                  lambda r: _call(_x(r, 2, 3), domains.probabilities(r, (2, 3), "float32"), weight=_x(r, 2)),
                  RuntimeError),
    ),
    # torch rejects ignore_index >= 0 with probability targets (an error case above); -1 is inert.
    valid=lambda case: not (case.option("target").name == "probs" and case.option("ignore_index") != -100
                            and case.option("ignore_index") >= 0),
)

SPECS = (NLL_LOSS, CROSS_ENTROPY)
