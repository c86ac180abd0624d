"""Named input generators (``logits``, ``log_probabilities``, ``class_targets`` ...).

Every generator draws in float64 from the case's seeded generator and rounds to the case
dtype (:func:`conformance.dtypes.round_to`), so the reference and the target see the
same values. Value classes:

* ``normal``: moderate values (standard normal times 2);
* ``extreme``: magnitudes near 1e4 in float32/float64 and up to the dtype's maximum in
  float16/bfloat16, where intermediate results overflow the format;
* ``ties``: small integers, so rows hold repeated and all-equal values;
* ``nonfinite``: about one entry in six replaced by NaN, +inf or -inf.
"""

import numpy as np

from .dtypes import FORMATS, round_to

VALUE_CLASSES = ("normal", "extreme", "ties", "nonfinite")


def real(rng, shape, dtype, values="normal", scale=2.0):
    """Real numbers of the value class ``values``, rounded to ``dtype``."""
    shape = tuple(shape)
    if values == "normal":
        x = rng.standard_normal(shape) * scale
    elif values == "extreme":
        if dtype in ("float16", "bfloat16"):
            top = FORMATS[dtype].max
            x = rng.choice([-1.0, -0.5, 0.0, 0.5, 1.0], size=shape) * top
        else:
            x = rng.standard_normal(shape) * 1e4
    elif values == "ties":
        x = rng.integers(-1, 2, size=shape).astype(np.float64)
        if len(shape) >= 1 and shape[0] > 0:
            x[0] = 1.0  # one slice of exactly equal values
    elif values == "nonfinite":
        x = rng.standard_normal(shape) * scale
        hit = rng.random(shape) < 1 / 6
        x = np.where(hit, rng.choice([np.nan, np.inf, -np.inf], size=shape), x)
    else:
        raise ValueError(f"unknown value class {values!r}")
    return round_to(x, dtype)


def grad_output(rng, shape, dtype):
    """The ``grad_output`` a backward check applies: normal draws for an unreduced output; for a
    reduced (0-d) output a power of two, -4, -2, -1/2, 1/2, 2 or 4, never 1, so that it is applied
    exactly in every format. A random value there would be rounded with ``1/n`` into one factor of
    a half-precision gradient, a bias of up to one unit that is the test's choice, not the target's
    (the scale-error check of ``conformance/compare.py`` sees biases of that size)."""
    shape = tuple(shape)
    if shape:
        return real(rng, shape, dtype)
    return np.array(rng.choice([-4.0, -2.0, -0.5, 0.5, 2.0, 4.0]))


def logits(rng, shape, dtype, values="normal"):
    return real(rng, shape, dtype, values)


def log_probabilities(rng, shape, dtype, values="normal", axis=1):
    """Log-probabilities along ``axis`` (log-softmax of normal logits); the value classes
    other than ``normal`` apply to the raw values, as a port may receive them."""
    if values != "normal":
        return real(rng, shape, dtype, values)
    x = rng.standard_normal(shape) * 2.0
    if len(shape) and shape[axis] > 0:
        x = x - np.max(x, axis=axis, keepdims=True)
        x = x - np.log(np.sum(np.exp(x), axis=axis, keepdims=True))
    return round_to(x, dtype)


def probabilities(rng, shape, dtype, axis=1):
    """Non-negative values summing to (about) one along ``axis``, rounded to ``dtype``."""
    x = rng.exponential(1.0, size=shape)
    if len(shape) and shape[axis] > 0:
        x = x / np.sum(x, axis=axis, keepdims=True)
    return round_to(x, dtype)


def positive(rng, shape, dtype, low=0.5, high=2.0):
    """Uniform values in ``[low, high)``: class weights and the like."""
    return round_to(rng.uniform(low, high, size=shape), dtype)


def class_targets(rng, shape, n_classes, ignore_index=None, ignored_fraction=0.25, dtype=np.int64):
    """Class indices in ``[0, n_classes)``; when ``ignore_index`` is given, about
    ``ignored_fraction`` of them are set to it (all of them with fraction 1). Past 256 classes the
    first index is the last class, so that an index a narrow integer type cannot hold (past int16
    at 32801 classes: ``conformance/sizes.py``) is always drawn."""
    t = rng.integers(0, max(n_classes, 1), size=shape)
    if ignore_index is not None:
        t = np.where(rng.random(shape) < ignored_fraction, ignore_index, t)
    if n_classes > 256 and t.size:
        t.flat[0] = n_classes - 1
    return t.astype(dtype)


# --- where intermediates overflow a format (the property search and the known divergences) ---

LOW_PRECISION = ("float16", "bfloat16")


def overflow_prone(dtype, arrays):
    """Whether inputs reach the magnitudes where intermediates may overflow: squares, the
    cubes of a p-norm and their sums stay finite below the fourth root of the maximum."""
    if dtype not in LOW_PRECISION:
        return False
    limit = FORMATS[dtype].max ** 0.25
    return any(np.any(np.abs(np.where(np.isfinite(a), a, 0.0)) >= limit) for a in arrays)


def _exponentiated(function, call):
    """The intermediates a function forms from ``exp`` of an argument (finite inputs only):
    ``exp`` overflows at an argument of ``log(max)`` (11.1 in float16), far below the
    fourth root that :func:`overflow_prone` watches."""
    args = call.args
    if function == "kl_div" and args.get("log_target"):
        x, t = np.broadcast_arrays(np.asarray(args["input"], np.float64), np.asarray(args["target"], np.float64))
        e = np.exp(np.where(np.isfinite(x) & np.isfinite(t), t, 0.0))
        return [e, e * np.abs(np.where(np.isfinite(x), t - x, 0.0)) + e]  # the loss, its gradients
    if function == "poisson_nll_loss" and args.get("log_input"):
        x = np.asarray(args["input"], np.float64)
        return [np.exp(np.where(np.isfinite(x), x, 0.0))]
    return []


def exp_overflows(function, dtype, call):
    """Whether an ``exp`` intermediate of ``call`` overflows ``dtype``."""
    with np.errstate(over="ignore", invalid="ignore"):
        return any(bool(np.any(v > FORMATS[dtype].max)) for v in _exponentiated(function, call))
