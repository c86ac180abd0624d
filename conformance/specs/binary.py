"""binary_cross_entropy, binary_cross_entropy_with_logits, soft_margin_loss and
multilabel_soft_margin_loss.

Value classes of this family besides the shared ones (``domains.VALUE_CLASSES``):

* ``bounds`` (binary_cross_entropy): probabilities of exactly 0 and 1 (where the log terms
  are clamped at -100 and the gradient's denominator at 1e-12), 1e-13 and 0.5;
* ``nonfinite`` (logit losses): about one entry in six replaced by +inf or -inf, and
  always the first entry by the infinity on which torch gives NaN (known divergence);
* ``nan``: about one entry in six replaced by NaN;
* ``large`` (soft_margin_loss): margins ``y x`` of magnitude 20 to 80 (5 to 10 in float16),
  far out but where ``exp(-y x)`` is still finite in the case dtype;
* ``overflow`` (soft_margin_loss): the first margin is -1000 to -10000, where torch's
  ``exp(-y x)`` overflows in every dtype (known divergence).
"""

import numpy as np

from .. import domains, sizes
from ..dtypes import round_to
from ..registry import Call, ErrorCase, Gen, Spec

REDUCTIONS = ("mean", "sum", "none")
MEAN = ("reduction", "mean")

# scalars, unbatched, N = 1, 3-D and 4-D, and empty batches.
SHAPES = ((), (5,), (4, 5), (1, 5), (2, 3, 4), (2, 3, 2, 2), (0,), (0, 5))

# multilabel_soft_margin_loss needs a class (last) dimension; (4, 1) has a single class.
MULTILABEL_SHAPES = ((5,), (4, 5), (1, 5), (4, 1), (2, 3, 4), (2, 3, 2, 2), (0, 5))


def _last(shape):
    """The shape of a per-class vector broadcast along the last dimension (``()`` for scalars)."""
    return tuple(shape[-1:])


def _probabilities(rng, shape, dtype, values):
    p = 1.0 / (1.0 + np.exp(-2.0 * rng.standard_normal(shape)))
    if values == "bounds":
        p = np.where(rng.random(shape) < 0.6, rng.choice([0.0, 1.0, 1e-13, 0.5], size=shape), p)
    return round_to(p, dtype)


def _labels(rng, shape, dtype, hard_fraction=0.5):
    """Labels in [0, 1]: about ``hard_fraction`` exactly 0 or 1, the rest soft in [0.05, 0.95]
    (far enough from 0 and 1 to stay there once rounded to bfloat16)."""
    soft = rng.uniform(0.05, 0.95, size=shape)
    hard = rng.integers(0, 2, size=shape).astype(np.float64)
    return round_to(np.where(rng.random(shape) < hard_fraction, hard, soft), dtype)


def _logits(rng, shape, dtype, values, first):
    """Logits of the value class; ``nonfinite`` puts ``first`` (an infinity) at the first entry."""
    if values == "nonfinite":
        x = domains.real(rng, shape, dtype)
        x = np.where(rng.random(shape) < 1 / 6, rng.choice([np.inf, -np.inf], size=shape), x)
        if x.size:
            x.flat[0] = first
        return x
    if values == "nan":
        x = domains.real(rng, shape, dtype)
        return np.where(rng.random(shape) < 1 / 6, np.nan, x)
    return domains.real(rng, shape, dtype, values)


def _weight(rng, case, shape, option="weight"):
    kind = case.option(option)
    if kind is None:
        return None
    return domains.positive(rng, shape if kind.name == "full" else _last(shape), case.dtype)


def _bce_sample(rng, case):
    x = _probabilities(rng, case.shape, case.dtype, case.values)
    y = _labels(rng, case.shape, case.dtype)
    if case.values == "bounds":  # p = y = 0 first (float16's NaN gradient, a known divergence), then p = 1, y = 0
        x.flat[:2], y.flat[:2] = (0.0, 1.0)[:x.size], (0.0, 0.0)[:x.size]
    return Call({"input": x, "target": y, "weight": _weight(rng, case, case.shape),
                 "reduction": case.option("reduction")}, positional=2)


def _bce_logits_sample(rng, case):
    x = _logits(rng, case.shape, case.dtype, case.values, -np.inf)  # -inf: torch's inf - inf
    y = _labels(rng, case.shape, case.dtype)
    return Call({"input": x, "target": y, "weight": _weight(rng, case, case.shape),
                 "reduction": case.option("reduction"),
                 "pos_weight": _weight(rng, case, case.shape, "pos_weight")}, positional=2)


def _soft_margin_sample(rng, case):
    shape, dtype = case.shape, case.dtype
    y = rng.choice([-1.0, 1.0], size=shape)
    if case.values == "large":
        low, high = (5.0, 10.0) if dtype == "float16" else (20.0, 80.0)  # exp(11.1) overflows float16
        x = y * rng.choice([-1.0, 1.0], size=shape) * rng.uniform(low, high, size=shape)
    elif case.values == "overflow":
        x = domains.real(rng, shape, "float64")
        if x.size:
            x.flat[0] = -y.flat[0] * rng.uniform(1e3, 1e4)
    elif case.values == "nonfinite":  # only margins of +inf: torch's -inf margins are the overflow above
        x = domains.real(rng, shape, "float64")
        x = np.where(rng.random(shape) < 1 / 6, y * np.inf, x)
    else:
        x = _logits(rng, shape, dtype, case.values, None)
    return Call({"input": round_to(x, dtype), "target": y, "reduction": case.option("reduction")}, positional=2)


def _multilabel_sample(rng, case):
    hard = case.option("target").name == "hard"
    y = _labels(rng, case.shape, case.dtype, hard_fraction=1.0 if hard else 0.0)
    if hard and y.size:
        y.flat[0] = 1.0  # with the +inf logit below: torch's 0 * inf
    x = _logits(rng, case.shape, case.dtype, case.values, np.inf)
    weight = None if case.option("weight") is None else domains.positive(rng, _last(case.shape), case.dtype)
    return Call({"input": x, "target": y, "weight": weight, "reduction": case.option("reduction")}, positional=2)


def _f32(rng, *shape):
    return domains.logits(rng, shape, "float32")


def _p(rng, *shape):
    return round_to(rng.uniform(0.05, 0.95, size=shape), "float32")


def _call(input, target, **options):
    return Call({"input": input, "target": target, **options}, positional=2)


def _bce_input(p):
    return lambda r: _call(np.array(p), _p(r, len(p)))


def _bce_target(y):
    return lambda r: _call(_p(r, len(y)), np.array(y))


BINARY_CROSS_ENTROPY = Spec(
    name="binary_cross_entropy",
    sample=_bce_sample,
    shapes=SHAPES,
    options={"reduction": REDUCTIONS, "weight": (None, Gen("full"), Gen("last"))},
    values=("normal", "bounds"),  # any other input is outside [0, 1]: an error case
    sizes=sizes.elementwise(MEAN),
    differentiable=("input", "target"),  # weight is not differentiable in torch
    errors=(
        ErrorCase("(2, 3), reduction='avg'", lambda r: _call(_p(r, 2, 3), _p(r, 2, 3), reduction="avg"),
                  ValueError),
        ErrorCase("(2, 3), target of shape (3, 2)", lambda r: _call(_p(r, 2, 3), _p(r, 3, 2)), ValueError),
        ErrorCase("(3,), target of shape (3, 1)", lambda r: _call(_p(r, 3), _p(r, 3, 1)), ValueError),
        ErrorCase("(2, 3), weight of shape (2,)", lambda r: _call(_p(r, 2, 3), _p(r, 2, 3), weight=_p(r, 2)),
                  RuntimeError),
        ErrorCase("(3,), weight of shape (2, 3)", lambda r: _call(_p(r, 3), _p(r, 3), weight=_p(r, 2, 3)),
                  RuntimeError),
        ErrorCase("input=[0.5, 1.5]", _bce_input([0.5, 1.5]), RuntimeError),
        ErrorCase("input=[-0.1, 0.5]", _bce_input([-0.1, 0.5]), RuntimeError),
        ErrorCase("input=[nan, 0.5]", _bce_input([np.nan, 0.5]), RuntimeError),
        ErrorCase("input=[inf, 0.5]", _bce_input([np.inf, 0.5]), RuntimeError),
        ErrorCase("target=[0.5, 1.5]", _bce_target([0.5, 1.5]), RuntimeError),
        ErrorCase("target=[-0.1, 0.5]", _bce_target([-0.1, 0.5]), RuntimeError),
        ErrorCase("target=[nan, 0.5]", _bce_target([np.nan, 0.5]), RuntimeError),
    ),
)

BINARY_CROSS_ENTROPY_WITH_LOGITS = Spec(
    name="binary_cross_entropy_with_logits",
    sample=_bce_logits_sample,
    shapes=SHAPES,
    options={
        "reduction": REDUCTIONS,
        "weight": (None, Gen("full"), Gen("last")),
        "pos_weight": (None, Gen("last")),
    },
    values=("normal", "extreme", "ties", "nonfinite", "nan"),
    sizes=sizes.elementwise(MEAN),
    differentiable=("input", "target"),  # weight and pos_weight are not differentiable in torch
    errors=(
        ErrorCase("(2, 3), reduction='avg'", lambda r: _call(_f32(r, 2, 3), _p(r, 2, 3), reduction="avg"),
                  ValueError),
        ErrorCase("(2, 3), target of shape (3, 2)", lambda r: _call(_f32(r, 2, 3), _p(r, 3, 2)), ValueError),
        ErrorCase("(3,), target of shape (3, 1)", lambda r: _call(_f32(r, 3), _p(r, 3, 1)), ValueError),
        ErrorCase("(2, 3), weight of shape (2,)", lambda r: _call(_f32(r, 2, 3), _p(r, 2, 3), weight=_p(r, 2)),
                  RuntimeError),
        ErrorCase("(3,), weight of shape (2, 3)", lambda r: _call(_f32(r, 3), _p(r, 3), weight=_p(r, 2, 3)),
                  RuntimeError),
        ErrorCase("(2, 3), pos_weight of shape (2,)",
                  lambda r: _call(_f32(r, 2, 3), _p(r, 2, 3), pos_weight=_p(r, 2)), RuntimeError),
        ErrorCase("(2, 3, 4), pos_weight of shape (3,)",  # (C,) acts on the last dim, not on dim 1
                  lambda r: _call(_f32(r, 2, 3, 4), _p(r, 2, 3, 4), pos_weight=_p(r, 3)), RuntimeError),
        ErrorCase("(3,), pos_weight of shape (2, 3)",
                  lambda r: _call(_f32(r, 3), _p(r, 3), pos_weight=_p(r, 2, 3)), RuntimeError),
    ),
)

SOFT_MARGIN_LOSS = Spec(
    name="soft_margin_loss",
    sample=_soft_margin_sample,
    shapes=SHAPES,
    options={"reduction": REDUCTIONS},
    values=("normal", "large", "ties", "nonfinite", "nan", "overflow"),
    sizes=sizes.elementwise(MEAN),
    differentiable=("input",),  # torch: "not differentiable with respect to argument 'target'"
    errors=(
        ErrorCase("(2, 3), reduction='avg'", lambda r: _call(_f32(r, 2, 3), np.ones((2, 3)), reduction="avg"),
                  ValueError),
        ErrorCase("(2, 3), target of shape (2,)", lambda r: _call(_f32(r, 2, 3), np.ones(2)), RuntimeError),
    ),
)

MULTILABEL_SOFT_MARGIN_LOSS = Spec(
    name="multilabel_soft_margin_loss",
    sample=_multilabel_sample,
    shapes=MULTILABEL_SHAPES,
    options={"reduction": REDUCTIONS, "weight": (None, Gen("class")), "target": (Gen("hard"), Gen("soft"))},
    values=("normal", "extreme", "ties", "nonfinite", "nan"),
    differentiable=("input", "target", "weight"),  # all three, through torch's Python composite
    # the class dim at vector and block boundaries; rows at the counts (the mean over rows)
    sizes=sizes.rows(lambda n, c: (n, c), MEAN, block=(257, 1025)),
    errors=(
        ErrorCase("(2, 3), reduction='avg'", lambda r: _call(_f32(r, 2, 3), _p(r, 2, 3), reduction="avg"),
                  ValueError),
        ErrorCase("(), target of shape ()", lambda r: _call(_f32(r), _p(r)), IndexError),
        ErrorCase("(2, 3), weight of shape (4,)", lambda r: _call(_f32(r, 2, 3), _p(r, 2, 3), weight=_p(r, 4)),
                  RuntimeError),
        ErrorCase("(2, 3), target of shape (2,)", lambda r: _call(_f32(r, 2, 3), _p(r, 2)), RuntimeError),
    ),
)

SPECS = (BINARY_CROSS_ENTROPY, BINARY_CROSS_ENTROPY_WITH_LOGITS, SOFT_MARGIN_LOSS, MULTILABEL_SOFT_MARGIN_LOSS)
