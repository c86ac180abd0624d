"""mse_loss, l1_loss, smooth_l1_loss and huber_loss.

The ``weight`` argument of mse_loss, l1_loss and huber_loss is recent in torch: its option
domain (and its error cases) are registered only when the installed torch accepts it, so
an older torch runs the rest of the suite.

Value class ``kinks`` (besides the shared ones): inputs and targets on a grid of quarters,
so that in every dtype about half of the differences sit exactly on a non-differentiable
point: ``input == target`` and ``|input - target| == beta`` (``delta`` for huber_loss).
"""

import inspect

import numpy as np
import torch.nn.functional as F  # the installed torch's signature decides whether `weight` is registered

from .. import domains, sizes
from ..dtypes import round_to
from ..registry import Call, ErrorCase, Gen, ShapeDependent, Spec

REDUCTIONS = ("mean", "sum", "none")
SIZES = sizes.elementwise(("reduction", "mean"))

# scalars, unbatched, N = 1, a trailing singleton (which broadcasting enlarges), 3-D, 4-D, empty.
SHAPES = ((), (5,), (4, 5), (1, 5), (3, 1), (2, 3, 4), (2, 3, 2, 2), (0,), (0, 5))

VALUES = domains.VALUE_CLASSES + ("kinks",)


def _broadcast_target_shape(shape):
    """A target shape torch broadcasts against ``shape`` (with its size warning): the
    trailing dimensions, ``(1,)`` for 0-D and 1-D inputs, and ``(N,)`` for an ``(N, 1)``
    input, which the broadcast enlarges to ``(N, N)``."""
    if len(shape) <= 1:
        return (1,)
    if shape[-1] == 1:
        return (shape[0],)
    return tuple(shape[1:])


SAME = ShapeDependent("same", lambda shape: tuple(shape))
BROADCAST = ShapeDependent("broadcast", _broadcast_target_shape)


def accepts_weight(function):
    """Whether the installed torch's ``function`` takes ``weight`` (added in torch 2.8 or so)."""
    return "weight" in inspect.signature(getattr(F, function)).parameters


def _weight_domain(function):
    return (None, Gen("positive")) if accepts_weight(function) else (None,)


def _kinks(rng, input_shape, target_shape, dtype, step):
    """Quarter-grid values with ``input - target`` in {0, step, -step, other} where they pair."""
    t = rng.integers(-8, 9, size=target_shape) / 4.0
    broadcast = np.broadcast_shapes(input_shape, target_shape)
    tb = np.broadcast_to(t, broadcast)
    lead = len(broadcast) - len(input_shape)
    # the target each input element first meets along the axes the broadcast enlarges
    index = (0,) * lead + tuple(slice(0, 1) if n == 1 else slice(None) for n in input_shape)
    paired = tb[index].reshape(input_shape)
    offset = rng.choice([0.0, step, -step, 0.25 * rng.integers(-8, 9)], size=input_shape)
    return round_to(paired + offset, dtype), round_to(t, dtype)


def _pair(rng, case, step):
    target_shape = case.option("target_shape")
    if case.values == "kinks":
        return _kinks(rng, case.shape, target_shape, case.dtype, step)
    return (domains.real(rng, case.shape, case.dtype, case.values),
            domains.real(rng, target_shape, case.dtype, case.values))


def _sampler(threshold=None):
    """The sampler of a loss whose kink sits at ``|d| = option threshold`` (or only at 0)."""

    def sample(rng, case):
        step = case.option(threshold) if threshold else 1.0
        x, y = _pair(rng, case, step)
        args = {"input": x, "target": y, "reduction": case.option("reduction")}
        if threshold:
            args[threshold] = case.option(threshold)
        if "weight" in case.spec.options and case.option("weight") is not None:
            args["weight"] = domains.positive(rng, case.shape, case.dtype)
        return Call(args, positional=2)

    return sample


def _x(rng, *shape):
    return domains.logits(rng, shape, "float32")


def _call(input, target, **options):
    return Call({"input": input, "target": target, **options}, positional=2)


def _errors(function, **options):
    errors = [
        ErrorCase("(2, 3), reduction='avg'", lambda r: _call(_x(r, 2, 3), _x(r, 2, 3), reduction="avg", **options),
                  ValueError),
        ErrorCase("(2, 3), target of shape (4,)", lambda r: _call(_x(r, 2, 3), _x(r, 4), **options), RuntimeError),
        ErrorCase("(2, 3), target of shape (3, 3)", lambda r: _call(_x(r, 2, 3), _x(r, 3, 3), **options),
                  RuntimeError),
    ]
    if accepts_weight(function):
        errors += [
            ErrorCase("(2, 3), weight of shape (3,)",  # broadcastable, but torch wants the input's shape
                      lambda r: _call(_x(r, 2, 3), _x(r, 2, 3), weight=_x(r, 3), **options), ValueError),
            ErrorCase("(2, 1), target of shape (3,), weight of shape (2, 3)",  # not the broadcast shape either
                      lambda r: _call(_x(r, 2, 1), _x(r, 3), weight=_x(r, 2, 3), **options), ValueError),
            ErrorCase("(2, 3), weight=<positive>, reduction='avg'",
                      lambda r: _call(_x(r, 2, 3), _x(r, 2, 3), weight=domains.positive(r, (2, 3), "float32"),
                                      reduction="avg", **options), ValueError),
        ]
    return tuple(errors)


MSE_LOSS = Spec(
    name="mse_loss",
    sample=_sampler(),
    shapes=SHAPES,
    options={"reduction": REDUCTIONS, "target_shape": (SAME, BROADCAST), "weight": _weight_domain("mse_loss")},
    values=VALUES,
    sizes=SIZES,
    differentiable=("input", "target", "weight"),
    errors=_errors("mse_loss"),
)

L1_LOSS = Spec(
    name="l1_loss",
    sample=_sampler(),
    shapes=SHAPES,
    options={"reduction": REDUCTIONS, "target_shape": (SAME, BROADCAST), "weight": _weight_domain("l1_loss")},
    values=VALUES,
    sizes=SIZES,
    differentiable=("input", "target", "weight"),
    errors=_errors("l1_loss"),
)

SMOOTH_L1_LOSS = Spec(
    name="smooth_l1_loss",
    sample=_sampler("beta"),
    shapes=SHAPES,
    options={"reduction": REDUCTIONS, "target_shape": (SAME, BROADCAST), "beta": (1.0, 0.0, 0.5)},
    values=VALUES,
    sizes=SIZES,
    differentiable=("input", "target"),
    errors=_errors("smooth_l1_loss") + (
        ErrorCase("(2, 3), beta=-1.0", lambda r: _call(_x(r, 2, 3), _x(r, 2, 3), beta=-1.0), RuntimeError),
    ),
)

HUBER_LOSS = Spec(
    name="huber_loss",
    since={'function': '1.9'},
    sample=_sampler("delta"),
    shapes=SHAPES,
    options={"reduction": REDUCTIONS, "target_shape": (SAME, BROADCAST), "delta": (1.0, 0.5),
             "weight": _weight_domain("huber_loss")},
    values=VALUES,
    sizes=SIZES,
    differentiable=("input", "target", "weight"),
    errors=_errors("huber_loss") + (
        ErrorCase("(2, 3), delta=0.0", lambda r: _call(_x(r, 2, 3), _x(r, 2, 3), delta=0.0), RuntimeError),
        ErrorCase("(2, 3), delta=-1.0", lambda r: _call(_x(r, 2, 3), _x(r, 2, 3), delta=-1.0), RuntimeError),
    ),
)

SPECS = (MSE_LOSS, L1_LOSS, SMOOTH_L1_LOSS, HUBER_LOSS)
