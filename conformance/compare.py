"""How a target's result is compared with the reference's: the tolerance policy as data.

Policy (docs/tolerance.md explains it for a porter):

* float64 is the semantics check. Both sides compute in float64, so the budget is tight
  (1e-12 relative): any wrong formula, denominator, clamp or mask is orders of magnitude
  larger than that.
* float32, float16 and bfloat16 are accuracy budgets, stated as multiples of the format's
  unit roundoff ``u`` (2**-24, 2**-11, 2**-8). Inputs are generated in the case dtype, so
  the reference sees exactly the rounded values the target sees; the budget covers only
  the target's own rounding.
* An element passes when ``|actual - expected| <= rtol * |expected| + atol * scale``: ``atol`` is a
  normwise floor, for elements that come out of cancellation (``softmax - 1``, a gradient that is
  exactly 0 in exact arithmetic) or underflow. ``scale`` follows the tensor's own magnitude: the
  largest finite ``|expected|``, or ``1/n`` where that is larger, for a result of ``n`` input
  elements (``terms``): the grid's inputs are of order 1 (``conformance/domains.py``), so ``1/n``
  is the size of the terms a cancelling result comes out of once a mean spreads them over ``n``.
  A gradient of a mean, of size ``1/n``, is so held to ``1/n``'s precision: a zero or doubled one
  fails at any size (before, the floor was at least 1, which let any gradient under about
  ``8 u`` pass).
* Below the format's smallest normal number an absolute error of that size is allowed
  (underflow to zero or to a subnormal).
* Budgets grow with the number ``n`` of terms a reduction adds, by ``g = 1 + log2(n)``, the
  worst-case growth of the pairwise and cascade sums that torch's kernels use. In float64 and
  float32 the budget grows as a whole. float16 and bfloat16 compute in float32 and round once
  (torch's "opmath"), so only a float32 accumulation term grows there:
  ``rtol = 8 u + g * 32 u_float32`` (and ``atol`` alike). Grown as a whole, bfloat16's budget would
  allow 25% error at ``n = 120``.
* A tensor must not be biased (``scale_error``): rounding scatters each element's error around
  zero, while a wrong count, total weight or ``1/n`` (``1/256`` for ``1/257``, a count kept in
  bfloat16; ``1/(n - 1)``) scales every element by the same factor, by about one unit, which an
  elementwise budget of a few units cannot see. The least-squares factor ``s = <a, e> / <e, e>``
  is the mean of the elements' relative errors weighted by ``e^2``; over the normal, finite
  elements it must satisfy ``|s - 1| <= g * 4 u_acc + 4 sigma sqrt(sum W_k^2) / sum W_k``: a
  systematic term (``u_acc`` the float32 accumulation's unit: a few units of a shared ``1/n`` or
  log-sum-exp rounded in float32) and a random one, four standard errors of that weighted mean.
  ``W_k`` is the sum of ``e^2`` over the elements of one exact value (the ties of a gradient: their
  rounding errors are one error), and ``sigma`` the larger of half the format's unit roundoff and
  the spread of the relative errors about their mean, so a target whose elements carry several
  roundings each is held to the mean of its own errors, not to one rounding's. Where every element
  has one value (the gradient of an unweighted mean, ``-g/N`` at every target), that value is one
  scalar result and must be the format's nearest to the exact one (half an ulp, plus the
  systematic term): bfloat16's ``-g/256`` for ``-g/257`` is not. Elements below one unit roundoff
  of the normwise floor's ``scale`` are cancellation's and left out, and fewer than 16 independent
  values say nothing (their spread cannot be estimated). float64 is exempt:
  its elementwise budget (1e-12) is already far below any such factor. Values below the format's
  smallest normal number carry no relative precision and are left out, so where a gradient
  underflows (float16's ``1/n`` past ``n`` of about 16000) only the elementwise budget holds it.
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
    """``rtol`` is elementwise; ``atol`` is in units of the tensor's largest ``|expected|``, or of
    ``floor`` where that is larger: the magnitude of the terms a result comes out of, where
    cancellation leaves it far smaller than its inputs (the property search's drawn inputs)."""

    rtol: float
    atol: float
    reason: str = ""
    floor: float = 0.0
    # The scale-error check's systematic term, in units of float32's unit roundoff per unit of growth
    # (more where the function's result carries a shared error by its nature: ctc_loss's nll); None:
    # no scale-error check (a target's accuracy record: see conformance/divergences.py).
    systematic: float | None = 4.0


def _u(dtype):
    return FORMATS[dtype].unit_roundoff


TOLERANCES = {
    "float64": Tolerance(1e-12, 1e-12, "semantics check: both sides compute in float64"),
    "float32": Tolerance(32 * _u("float32"), 32 * _u("float32"), "a few roundings per element"),
    "float16": Tolerance(8 * _u("float16"), 8 * _u("float16"), "rounding of the output plus float32 internals"),
    "bfloat16": Tolerance(8 * _u("bfloat16"), 8 * _u("bfloat16"), "rounding of the output plus float32 internals"),
}


HALF = ("float16", "bfloat16")
RANDOM_SIGMAS = 4  # standard errors of the weighted mean of the relative errors
MIN_GROUPS = 16  # independent values the scale error needs before it judges a bias


def budget_growth(n_terms):
    """Factor by which a budget grows for a result that sums ``n_terms`` values."""
    return 1.0 + math.log2(max(int(n_terms), 1))


def grown(tolerance, dtype, growth):
    """``(rtol, atol)`` of ``tolerance`` for a result that sums ``budget_growth(n)`` terms: grown as
    a whole in float64 and float32; in float16 and bfloat16 the format's own budget stays and a
    float32 accumulation term grows (``compare``'s policy)."""
    if dtype in HALF:
        accumulation = growth * TOLERANCES["float32"].rtol
        return tolerance.rtol + accumulation, tolerance.atol + accumulation
    return growth * tolerance.rtol, growth * tolerance.atol


def scale_error(actual, expected, dtype, tolerance=None, growth=1.0, scale=0.0):
    """``(factor - 1, allowed, elements)`` of the least-squares factor ``<a, e> / <e, e>`` by which
    ``actual`` scales ``expected`` over their finite elements of normal magnitude, at least one unit
    roundoff of ``scale`` (the normwise floor's: smaller ones are cancellation's), or None where it
    says nothing: float64, no check in the tolerance, fewer than two elements, or between two and
    ``MIN_GROUPS`` independent values.

    >>> e = np.linspace(1.0, 2.0, 257) / 257
    >>> round(scale_error(e * 257 / 256, e, "bfloat16")[0], 5)  # 1/256 where 1/257 is due
    0.00391
    """
    tolerance = tolerance or TOLERANCES[dtype]
    if dtype == "float64" or tolerance.systematic is None:
        return None
    unit = FORMATS[dtype].unit_roundoff
    actual = np.asarray(actual, dtype=np.float64).ravel()
    expected = np.asarray(expected, dtype=np.float64).ravel()
    with np.errstate(invalid="ignore", over="ignore"):
        used = (np.isfinite(actual) & np.isfinite(round_to(expected, dtype))
                & (np.abs(expected) >= max(FORMATS[dtype].tiny, unit * scale)))
    e, a = expected[used], actual[used]
    if e.size < 2:
        return None
    # Elements of one exact value have one rounding error between them (the ties of a gradient).
    _, group = np.unique(e, return_inverse=True)
    group = group.ravel()
    weights = np.bincount(group, weights=e * e)  # W_k
    total = float(np.sum(weights))
    relative = np.bincount(group, weights=e * (a - e)) / weights  # each group's relative error
    factor = float(np.sum(weights * relative)) / total
    # float32, float16 and bfloat16 all accumulate in float32
    systematic = growth * tolerance.systematic * FORMATS["float32"].unit_roundoff
    if weights.size == 1:
        # One value that every element shares (the gradient of an unweighted mean, -g/N): it is one
        # scalar result, so it must be the format's nearest value to the exact one.
        value = abs(float(e[0]))
        return factor, systematic + 0.5 * float(ulp(np.array(value), dtype)) / value, int(e.size)
    if weights.size < MIN_GROUPS:
        return None  # too few independent errors to tell a bias from chance (their spread is unknown)
    spread = math.sqrt(float(np.sum(weights * (relative - factor) ** 2)) / total)
    sigma = max(unit / 2, spread)
    allowed = systematic + RANDOM_SIGMAS * sigma * math.sqrt(float(np.sum(weights * weights))) / total
    return factor, allowed, int(e.size)


@dataclass
class Comparison:
    """The outcome of comparing one array; ``message`` is empty when it passed."""

    ok: bool
    max_ulp: float = 0.0
    max_rel: float = 0.0
    message: str = ""
    index: tuple = ()
    used: float = 0.0  # the largest share of its budget an element (or the scale error) took: at most 1 to pass


def _fmt(v):
    return repr(float(v))


def compare(actual, expected, dtype, tolerance=None, growth=1.0, what="output", overflow_ok=False, terms=None):
    """Compare ``actual`` (float64 values of a ``dtype`` result) with ``expected`` (float64); with
    ``terms``, the number ``n`` of input elements the result comes from, the budget grows by
    ``budget_growth(n)`` (in place of ``growth``) and the normwise floor is at least ``1/n``.

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
    floor = tolerance.floor
    if terms is not None:
        growth = budget_growth(terms)
        floor = max(floor, 1.0 / terms) if terms else floor
    scale = max(np.max(np.abs(expected[finite]), initial=0.0), floor)
    rtol, atol = grown(tolerance, dtype, growth)
    allowed = rtol * np.abs(expected) + atol * scale + FORMATS[dtype].tiny
    with np.errstate(invalid="ignore", over="ignore"):
        err = np.where(finite & np.isfinite(actual), np.abs(actual - expected), 0.0)
        # ULPs at the magnitude the budget itself uses: elements below the normwise floor are
        # measured in ULPs of the floor, so the figure reads against the budget, not 1e300.
        floor = scale * atol / rtol if rtol else scale
        ulps = err / ulp(np.maximum(np.abs(expected), floor), dtype)
        rel = np.where(finite, err / np.maximum(np.abs(expected), max(floor, np.finfo(np.float64).tiny)), 0.0)
        ratio = np.where(allowed > 0, err / np.where(allowed > 0, allowed, 1.0), np.where(err > 0, np.inf, 0.0))
    bad = nonfinite_bad | (ratio > 1.0)
    max_ulp, max_rel = float(np.max(ulps)), float(np.max(rel))
    used = float(np.max(np.where(finite & np.isfinite(actual), ratio, 0.0)))
    if not bad.any():
        bias = scale_error(actual, expected, dtype, tolerance, growth, scale)
        if bias is None or abs(bias[0]) <= bias[1]:
            return Comparison(True, max_ulp, max_rel, used=max(used, abs(bias[0]) / bias[1] if bias else 0.0))
        factor, limit, elements = bias
        message = (f"{what}: scaled by {1 + factor!r} of the expected values (a relative scale error of "
                   f"{factor:.3g}, over {elements} elements; allowed {limit:.3g}): each element is within its "
                   f"budget, but together they are biased, as a wrong count, total weight or 1/n makes them")
        return Comparison(False, max_ulp, max(max_rel, abs(factor)), message, used=abs(factor) / limit)
    score = np.where(nonfinite_bad, np.inf, ratio)
    flat = int(np.argmax(np.where(bad, score, -1.0)))
    index = np.unravel_index(flat, expected.shape) if expected.ndim else ()
    index = tuple(int(i) for i in index)
    a, e = actual.flat[flat], expected.flat[flat]
    detail = (f"{int(bad.sum())} of {expected.size} elements out of budget; "
              f"error {err.flat[flat]:.3g} = {ulps.flat[flat]:.3g} ulp of {dtype}, "
              f"relative {rel.flat[flat]:.3g}; allowed {allowed.flat[flat]:.3g} = "
              f"rtol {rtol:.3g} x |expected| + atol {atol:.3g} x {scale:.3g}")
    if nonfinite_bad.flat[flat]:
        detail = f"{int(bad.sum())} of {expected.size} elements differ; non-finite values must match exactly"
    message = f"{what}: got {_fmt(a)}, but should be {_fmt(e)} at index {index} ({detail})"
    return Comparison(False, max_ulp, max_rel, message, index, used=math.inf)
