"""kl_div, poisson_nll_loss and gaussian_nll_loss.

The three broadcast their operands silently, so besides the input's shape each case picks
how the target (and the variance) is shaped against it:

* ``target=<same>``: the input's shape;
* ``target=<row>``: the input's shape without its first dimension, broadcast over the batch
  (a 0-D target for a 1-D input);
* ``target=<lead>``: a leading dimension of 2 in front of the input's shape, so the result
  has more elements (and, for ``kl_div``, more rows) than the input.

Value classes beyond ``normal``: ``zeros`` (kl_div targets exactly 0, or -inf in log
space), ``clamp`` (gaussian variances exactly 0 or below ``eps``), ``extreme`` and
``nonfinite``. Poisson's ``normal`` targets already hold exact counts 0, 1 and 2 (the
Stirling term's boundary).
"""

import numpy as np

from .. import domains, sizes
from ..dtypes import round_to
from ..registry import Call, ErrorCase, Gen, Spec
from ..sizes import Size

SAME, ROW, LEAD = Gen("same"), Gen("row"), Gen("lead")

# scalars, 1-D (N = 1 and N = 6) up to 4-D, and empty tensors along either dimension
MEAN = ("reduction", "mean")
KL_SHAPES = ((), (1,), (6,), (4, 5), (2, 3, 4), (2, 3, 2, 2), (0, 4), (3, 0))
SHAPES = ((), (6,), (4, 5), (2, 3, 4), (2, 3, 2, 2), (0, 4))


def _target_shape(shape, kind):
    return {"same": shape, "row": shape[1:], "lead": (2,) + shape}[kind.name]


def _row_makes_sense(case):
    # a 0-D input has no first dimension to broadcast over: <row> would repeat <same>
    return not (case.option("target") is ROW and case.shape == ())


def _with_nonfinite(rng, x, values=(np.nan, np.inf, -np.inf)):
    """``x`` with about one entry in six replaced by one of ``values``."""
    hit = rng.random(x.shape) < 1 / 6
    return np.where(hit, rng.choice(values, size=x.shape), x)


def _exp_extreme(rng, shape, dtype):
    """Extreme values for an operand the loss exponentiates: in float32 and float64 only
    magnitudes beyond float64's exp range (750 to 1e4), so exp gives inf or 0 in every
    format alike; a float32 exp that overflows where float64's does not would turn the
    cancellations of the reduction into inf - inf on one side only."""
    if dtype in ("float16", "bfloat16"):
        return domains.real(rng, shape, dtype, "extreme")
    return round_to(rng.choice([-1.0, 1.0], size=shape) * rng.uniform(750.0, 1e4, size=shape), dtype)


# kl_div ---------------------------------------------------------------------------------

def _kl_target(rng, shape, dtype, values, log_target):
    if values == "extreme":
        return _exp_extreme(rng, shape, dtype) if log_target else np.asarray(np.abs(
            domains.real(rng, shape, dtype, "extreme")))
    p = rng.uniform(0.05, 1.0, size=shape)  # probabilities (not normalised: kl_div does not care)
    if values == "zeros":
        p = np.where(rng.random(shape) < 1 / 3, 0.0, p)
    if values == "nonfinite":
        p = _with_nonfinite(rng, p, (np.nan, np.inf) if not log_target else (np.nan, np.inf, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        return round_to(np.log(p) if log_target else p, dtype)


def _kl_sample(rng, case):
    x = domains.real(rng, case.shape, case.dtype, "normal" if case.values == "zeros" else case.values)
    t = _kl_target(rng, _target_shape(case.shape, case.option("target")), case.dtype, case.values,
                   case.option("log_target"))
    return Call({"input": x, "target": t, "reduction": case.option("reduction"),
                 "log_target": case.option("log_target")}, positional=2)


def _x(rng, *shape):
    return domains.real(rng, shape, "float32")


def _p(rng, *shape):
    return domains.positive(rng, shape, "float32")


def _call2(input, target, **options):
    return Call({"input": input, "target": target, **options}, positional=2)


KL_DIV = Spec(
    name="kl_div",
    sample=_kl_sample,
    shapes=KL_SHAPES,
    options={
        "reduction": ("mean", "batchmean", "sum", "none"),
        "log_target": (False, True),
        "target": (SAME, ROW, LEAD),
    },
    values=("normal", "zeros", "extreme", "nonfinite"),
    # batchmean divides by the rows: its count regime is one of rows
    sizes=sizes.elementwise(MEAN) + (Size("count", tuple((n, 3) for n in sizes.COUNTS), (("reduction", "batchmean"),),
                                          "a row count a half-precision accumulator cannot hold exactly"),),
    differentiable=("input", "target"),
    errors=(
        ErrorCase("(2, 3), reduction='avg'", lambda r: _call2(_x(r, 2, 3), _p(r, 2, 3), reduction="avg"),
                  ValueError),
        ErrorCase("(2, 3), target of shape (2, 4)", lambda r: _call2(_x(r, 2, 3), _p(r, 2, 4)), RuntimeError),
        ErrorCase("(2, 3), target of shape (3, 3)", lambda r: _call2(_x(r, 2, 3), _p(r, 3, 3)), RuntimeError),
        ErrorCase("(2, 3), int64 target", lambda r: _call2(_x(r, 2, 3), np.ones((2, 3), np.int64)),
                  RuntimeError),
        ErrorCase("int64 (2, 3), target", lambda r: _call2(np.ones((2, 3), np.int64), _p(r, 2, 3)),
                  RuntimeError),
    ),
    valid=_row_makes_sense,
)


# poisson_nll_loss -----------------------------------------------------------------------

def _counts(rng, shape, dtype):
    """Poisson counts (exact 0, 1, 2, ...) mixed with positive reals; the first entry is 1."""
    t = np.where(rng.random(shape) < 0.5, rng.poisson(1.5, size=shape), rng.uniform(0.0, 4.0, size=shape))
    if t.size:
        t.flat[0] = 1.0  # exactly at the Stirling term's boundary
    return round_to(t, dtype)


def _poisson_sample(rng, case):
    log_input, values = case.option("log_input"), case.values
    if log_input and values == "extreme":
        x = _exp_extreme(rng, case.shape, case.dtype)
    elif log_input:
        x = domains.real(rng, case.shape, case.dtype, values, scale=1.5)
    else:  # rates: non-negative, with exact zeros where eps keeps log(x + eps) finite
        x = np.asarray(np.abs(domains.real(rng, case.shape, case.dtype, values, scale=1.5)))
        # float16 rounds 0 + 1e-8 to 0 (its smallest subnormal is 2**-24): torch then takes
        # log(0), a limit of the format rather than of the port, so no exact zero there.
        if round_to(np.array(case.option("eps")), case.dtype) > 0:
            x = np.where(rng.random(case.shape) < 1 / 6, 0.0, x)
    shape = _target_shape(case.shape, case.option("target"))
    if values == "extreme":
        t = np.asarray(np.abs(domains.real(rng, shape, case.dtype, "extreme")))
        if log_input and case.dtype in ("float16", "bfloat16"):
            # Where exp(x) overflows the format, t * x must not (inf - inf is NaN where the
            # exact loss is +inf): extreme log-rates meet targets of at most 1.
            t = np.asarray(np.minimum(t, 1.0))
    else:
        t = _counts(rng, shape, case.dtype)
        if values == "nonfinite":
            t = _with_nonfinite(rng, t)
    return Call({"input": x, "target": t, "log_input": log_input, "full": case.option("full"),
                 "eps": case.option("eps"), "reduction": case.option("reduction")}, positional=2)


def _poisson_valid(case):
    # a second eps only matters elementwise: checking it once per (log_input, full) keeps the grid small
    if case.option("eps") != 1e-8 and (case.option("target") is not SAME or case.option("reduction") != "sum"):
        return False
    return _row_makes_sense(case)


POISSON_NLL_LOSS = Spec(
    name="poisson_nll_loss",
    sample=_poisson_sample,
    shapes=SHAPES,
    options={
        "reduction": ("mean", "sum", "none"),
        "log_input": (True, False),
        "full": (False, True),
        "eps": (1e-8, 0.5),
        "target": (SAME, ROW, LEAD),
    },
    values=("normal", "extreme", "nonfinite"),
    sizes=sizes.elementwise(MEAN),
    differentiable=("input", "target"),
    errors=(
        ErrorCase("(2, 3), reduction='avg'", lambda r: _call2(_x(r, 2, 3), _p(r, 2, 3), reduction="avg"),
                  ValueError),
        ErrorCase("(2, 3), reduction='batchmean'",
                  lambda r: _call2(_x(r, 2, 3), _p(r, 2, 3), reduction="batchmean"), ValueError),
        ErrorCase("(2, 3), target of shape (2, 4)", lambda r: _call2(_x(r, 2, 3), _p(r, 2, 4)), RuntimeError),
        ErrorCase("(3,), target of shape (4,)", lambda r: _call2(_x(r, 3), _p(r, 4)), RuntimeError),
    ),
    valid=_poisson_valid,
)


# gaussian_nll_loss ----------------------------------------------------------------------

VAR_SAME, LAST1, FEWER, UNIT, FLOAT, INT = (Gen(n) for n in ("same", "last1", "fewer", "unit", "float", "int"))


def _var_shape(shape, kind):
    return {"same": shape, "last1": shape[:-1] + (1,), "fewer": shape[:-1], "unit": (1,) + shape[1:]}[kind.name]


def _variances(rng, shape, dtype, values, eps):
    v = rng.uniform(0.05, 2.0, size=shape)
    if values == "clamp":  # exactly 0, below eps, or normal: a third each
        u = rng.random(shape)
        v = np.where(u < 1 / 3, 0.0, np.where(u < 2 / 3, rng.uniform(0.0, eps, size=shape), v))
    elif values == "nonfinite":
        v = _with_nonfinite(rng, v, (np.nan, np.inf))  # -inf is a negative variance: an error case
    return round_to(v, dtype)


def _gaussian_sample(rng, case):
    values, kind, eps = case.values, case.option("var"), case.option("eps")
    x_values = "normal" if values == "clamp" else values
    x = domains.real(rng, case.shape, case.dtype, x_values)
    t = domains.real(rng, _target_shape(case.shape, case.option("target")), case.dtype, x_values)
    if kind is FLOAT:
        var = {"clamp": 0.0, "nonfinite": float("inf")}.get(values, 0.75)
    elif kind is INT:
        var = 0 if values == "clamp" else 2
    else:
        var = _variances(rng, _var_shape(case.shape, kind), case.dtype, values, eps)
    return Call({"input": x, "target": t, "var": var, "full": case.option("full"), "eps": eps,
                 "reduction": case.option("reduction")}, positional=3)


def _gaussian_valid(case):
    kind, ndim = case.option("var"), len(case.shape)
    if kind in (LAST1, FEWER) and ndim < 1 or kind is UNIT and ndim < 2:
        return False  # no such shape (a 1-D <unit> would repeat <last1>)
    if not _row_makes_sense(case):
        return False
    if case.values == "clamp" and case.dtype == "float16" and case.option("eps") < 2.0**-14:
        # eps is subnormal in float16 (1e-6 is stored as 1.0133e-6) and (x - t)**2 / eps
        # overflows it for |x - t| > 0.26: no semantics left to check, only the format.
        return False
    # One option off its default at a time, and each where it can matter: full (a constant)
    # with var=<same>; eps with <same> and <float>; broadcast targets with var tensors. A
    # Python int var, a known divergence, once per shape.
    full, eps, target = case.option("full"), case.option("eps") != 1e-6, case.option("target") is not SAME
    if kind is INT:
        return not (full or eps or target) and case.option("reduction") == "mean"
    if full + eps + target > 1:
        return False
    return not (full and kind is not VAR_SAME or eps and kind not in (VAR_SAME, FLOAT)
                or target and kind is FLOAT)


def _gcall(input, target, var, **options):
    return Call({"input": input, "target": target, "var": var, **options}, positional=3)


GAUSSIAN_NLL_LOSS = Spec(
    name="gaussian_nll_loss",
    since={'function': '1.8'},
    sample=_gaussian_sample,
    shapes=SHAPES,
    options={
        "reduction": ("mean", "sum", "none"),
        "var": (VAR_SAME, LAST1, FEWER, UNIT, FLOAT, INT),
        "full": (False, True),
        "eps": (1e-6, 0.5),
        "target": (SAME, ROW, LEAD),
    },
    values=("normal", "clamp", "nonfinite"),
    sizes=sizes.elementwise(MEAN),
    differentiable=("input", "target", "var"),
    errors=(
        ErrorCase("(2, 3), (2, 3), (2, 3), reduction='avg'",
                  lambda r: _gcall(_x(r, 2, 3), _x(r, 2, 3), _p(r, 2, 3), reduction="avg"), ValueError),
        ErrorCase("(2, 3), (2, 3), var=-1.0", lambda r: _gcall(_x(r, 2, 3), _x(r, 2, 3), -1.0), ValueError),
        ErrorCase("(2, 3), (2, 3), var with a negative entry",
                  lambda r: _gcall(_x(r, 2, 3), _x(r, 2, 3), np.array([[1.0, 2.0, -0.5], [1.0, 1.0, 1.0]])),
                  ValueError),
        ErrorCase("(2, 3), (2, 3), var of shape (3,)", lambda r: _gcall(_x(r, 2, 3), _x(r, 2, 3), _p(r, 3)),
                  ValueError),
        ErrorCase("(2, 3), (2, 3), var of shape (1, 1)", lambda r: _gcall(_x(r, 2, 3), _x(r, 2, 3), _p(r, 1, 1)),
                  ValueError),
        ErrorCase("(2, 3), (2, 3), var of shape ()", lambda r: _gcall(_x(r, 2, 3), _x(r, 2, 3), _p(r)),
                  ValueError),
        ErrorCase("(2, 1), (2, 1), var of shape (2, 3)", lambda r: _gcall(_x(r, 2, 1), _x(r, 2, 1), _p(r, 2, 3)),
                  ValueError),
        ErrorCase("(2, 3, 2, 2), (2, 3, 2, 2), var of shape (2, 3, 1, 1)",
                  lambda r: _gcall(_x(r, 2, 3, 2, 2), _x(r, 2, 3, 2, 2), _p(r, 2, 3, 1, 1)), ValueError),
        ErrorCase("(2, 3), (2, 3), var of shape (2, 3, 1)",
                  lambda r: _gcall(_x(r, 2, 3), _x(r, 2, 3), _p(r, 2, 3, 1)), ValueError),
        ErrorCase("(2, 3), (2, 4), (2, 3)", lambda r: _gcall(_x(r, 2, 3), _x(r, 2, 4), _p(r, 2, 3)), RuntimeError),
        ErrorCase("(2, 3), (2, 3), var of shape (0, 1)",
                  lambda r: _gcall(_x(r, 2, 3), _x(r, 2, 3), _p(r, 0, 1)), RuntimeError),
        ErrorCase("(2, 3), (2, 3), int64 var", lambda r: _gcall(_x(r, 2, 3), _x(r, 2, 3), np.ones((2, 3), np.int64)),
                  RuntimeError),
    ),
    valid=_gaussian_valid,
)

SPECS = (KL_DIV, POISSON_NLL_LOSS, GAUSSIAN_NLL_LOSS)
