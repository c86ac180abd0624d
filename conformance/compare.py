"""How a target's result is compared with the reference's: the tolerance policy as data.

Policy (also in the README):

* float64 is the semantics check. Both sides compute in float64, so the budget is tight
  (1e-12 relative): any wrong formula, denominator, clamp or mask is orders of magnitude
  larger than that.
* float32, float16 and bfloat16 are accuracy budgets, stated as multiples of the format's
  unit roundoff ``u`` (2**-24, 2**-11, 2**-8). Inputs are generated in the case dtype, so
  the reference sees exactly the rounded values the target sees; the budget covers only
  the target's own rounding.
* An element passes when ``|actual - expected| <= rtol * |expected| + atol * scale`` where
  ``scale`` is the largest finite ``|expected|`` in the tensor, and at least 1: ``atol`` is a
  normwise floor, for elements that come out of cancellation (``softmax - 1``, a gradient
  that is exactly 0 in exact arithmetic) or underflow.
* Below the format's smallest normal number an absolute error of that size is allowed
  (underflow to zero or to a subnormal).
* Budgets grow with the number ``n`` of terms a reduction adds, by ``1 + log2(n)``, the
  worst-case growth of the pairwise and cascade sums that torch's kernels use.
* Non-finite values must match exactly: NaN where the reference has NaN, inf of the same
  sign where it has inf. An expected value that overflows the case dtype is expected as inf.
* Where the inputs sit at the format's limits (value class ``extreme`` in float16 and
  bfloat16), intermediates may overflow the format or a float32 accumulator although the
  exact result is representable: there a non-finite result is accepted in place of a
  finite one, and NaN in place of an infinite one (two intermediates overflowing to
  opposite infinities give inf - inf) (``overflow_ok``); finite results are still held to
  the budget.
* Per-function overrides live in the registry, each with its reason.
"""

import math
from dataclasses import dataclass

import numpy as np

from .dtypes import FORMATS, round_to, ulp


@dataclass(frozen=True)
class Tolerance:
    """``rtol`` is elementwise; ``atol`` is in units of the tensor's largest ``|expected|``."""

    rtol: float
    atol: float
    reason: str = ""


def _u(dtype):
    return FORMATS[dtype].unit_roundoff


TOLERANCES = {
    "float64": Tolerance(1e-12, 1e-12, "semantics check: both sides compute in float64"),
    "float32": Tolerance(32 * _u("float32"), 32 * _u("float32"), "a few roundings per element"),
    "float16": Tolerance(8 * _u("float16"), 8 * _u("float16"), "rounding of the output plus float32 internals"),
    "bfloat16": Tolerance(8 * _u("bfloat16"), 8 * _u("bfloat16"), "rounding of the output plus float32 internals"),
}


def budget_growth(n_terms):
    """Factor by which a budget grows for a result that sums ``n_terms`` values."""
    return 1.0 + math.log2(max(int(n_terms), 1))


@dataclass
class Comparison:
    """The outcome of comparing one array; ``message`` is empty when it passed."""

    ok: bool
    max_ulp: float = 0.0
    max_rel: float = 0.0
    message: str = ""
    index: tuple = ()


def _fmt(v):
    return repr(float(v))


def compare(actual, expected, dtype, tolerance=None, growth=1.0, what="output", overflow_ok=False):
    """Compare ``actual`` (float64 values of a ``dtype`` result) with ``expected`` (float64).

    Returns a :class:`Comparison`; on failure its message reads
    ``got X, but should be Y at index I (...)``.

    >>> compare(np.array([1.0]), np.array([1.0 + 2**-20]), "float32").ok
    True
    >>> c = compare(np.array([1.0, 2.0]), np.array([1.0, 2.1]), "float32")
    >>> c.ok, c.message.split(" (1 of")[0]
    (False, 'output: got 2.0, but should be 2.1 at index (1,)')
    """
    tolerance = tolerance or TOLERANCES[dtype]
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    if actual.shape != expected.shape:
        return Comparison(False, math.inf, math.inf,
                          f"{what}: got shape {actual.shape}, but should be {expected.shape}")
    if expected.size == 0:
        return Comparison(True)
    # What a correctly rounded result in ``dtype`` would be, for overflow only.
    rounded = round_to(expected, dtype)
    target_value = np.where(np.isfinite(expected) & ~np.isfinite(rounded), rounded, expected)
    finite = np.isfinite(target_value)
    nonfinite_bad = ~finite & ~((actual == target_value) | (np.isnan(actual) & np.isnan(target_value)))
    nonfinite_bad |= finite & ~np.isfinite(actual)
    if overflow_ok:
        # Any non-finite result stands in for a finite exact one, and NaN for an infinite one:
        # two intermediates that overflow to opposite infinities give inf - inf.
        nonfinite_bad &= ~(np.isfinite(expected) & ~np.isfinite(actual))
        nonfinite_bad &= ~(np.isinf(expected) & np.isnan(actual))
    scale = max(np.max(np.abs(expected[finite]), initial=0.0), 1.0)
    allowed = growth * (tolerance.rtol * np.abs(expected) + tolerance.atol * scale) + FORMATS[dtype].tiny
    with np.errstate(invalid="ignore", over="ignore"):
        err = np.where(finite & np.isfinite(actual), np.abs(actual - expected), 0.0)
        # ULPs at the magnitude the budget itself uses: elements below the normwise floor are
        # measured in ULPs of the floor, so the figure reads against the budget, not 1e300.
        floor = scale * tolerance.atol / tolerance.rtol if tolerance.rtol else scale
        ulps = err / ulp(np.maximum(np.abs(expected), floor), dtype)
        rel = np.where(finite, err / np.maximum(np.abs(expected), max(floor, np.finfo(np.float64).tiny)), 0.0)
        ratio = np.where(allowed > 0, err / np.where(allowed > 0, allowed, 1.0), np.where(err > 0, np.inf, 0.0))
    bad = nonfinite_bad | (ratio > 1.0)
    max_ulp, max_rel = float(np.max(ulps)), float(np.max(rel))
    if not bad.any():
        return Comparison(True, max_ulp, max_rel)
    score = np.where(nonfinite_bad, np.inf, ratio)
    flat = int(np.argmax(np.where(bad, score, -1.0)))
    index = np.unravel_index(flat, expected.shape) if expected.ndim else ()
    index = tuple(int(i) for i in index)
    a, e = actual.flat[flat], expected.flat[flat]
    detail = (f"{int(bad.sum())} of {expected.size} elements out of budget; "
              f"error {err.flat[flat]:.3g} = {ulps.flat[flat]:.3g} ulp of {dtype}, "
              f"relative {rel.flat[flat]:.3g}; allowed {allowed.flat[flat]:.3g} = "
              f"{growth:.3g} x (rtol {tolerance.rtol:.3g} x |expected| + atol {tolerance.atol:.3g} x {scale:.3g})")
    if nonfinite_bad.flat[flat]:
        detail = f"{int(bad.sum())} of {expected.size} elements differ; non-finite values must match exactly"
    message = f"{what}: got {_fmt(a)}, but should be {_fmt(e)} at index {index} ({detail})"
    return Comparison(False, max_ulp, max_rel, message, index)
