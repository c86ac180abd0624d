"""The tolerance policy at the size regimes' sizes (conformance/compare.py): the gradient of a mean,
of size 1/n, rounded once to the case dtype passes; a zero, doubled or 1/(n - 1)-scaled one fails,
and bfloat16's 1/256 in place of 1/257 fails, in every dtype and at every size the grid reaches.
The expected values are hand-made (g / n for a random g): no target is involved."""

import numpy as np
import pytest

from conformance import compare as cmp
from conformance.dtypes import FLOAT_DTYPES, FORMATS, round_to
from conformance.sizes import CHUNKS, COUNTS, HALF_OVERFLOW

# Every element count the size regimes put in one mean, and a few of the grid's.
SIZES = (5, 20, 120, *COUNTS, *CHUNKS, HALF_OVERFLOW)


def _mean_gradient(n, dtype):
    """The gradient of ``mean(losses)`` under ``grad_output`` 1 for ``n`` losses whose derivatives are
    normal draws: ``d_i / n``, exactly, and as the case dtype holds it (rounded once)."""
    d = np.random.default_rng(n).standard_normal(n) * 2.0
    return d, d / n


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("n", SIZES)
def test_a_mean_gradient_rounded_once_passes(n, dtype):
    _, exact = _mean_gradient(n, dtype)
    assert cmp.compare(round_to(exact, dtype), exact, dtype, terms=n).ok


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("wrong", ["zero", "doubled", "1/(n-1)"])
def test_a_wrong_mean_gradient_fails(n, dtype, wrong):
    d, exact = _mean_gradient(n, dtype)
    actual = {"zero": np.zeros(n), "doubled": 2 * exact, "1/(n-1)": d / (n - 1)}[wrong]
    if wrong == "1/(n-1)" and dtype != "float64":
        # 1/(n - 1) scales every element by 1 + 1/(n - 1): seen wherever that exceeds (twice) the noise that
        # rounding each element once leaves in the mean of n values (about u / sqrt(n)). Past that,
        # no check of the values can tell it from rounding: bfloat16 beyond about 2,000 elements,
        # and float16 where 1/n is subnormal (past about 16,000). Few elements (noise None) are
        # the elementwise budget's: 1/(n - 1) is then a large error.
        noise = cmp.scale_error(round_to(exact, dtype), exact, dtype, growth=cmp.budget_growth(n))
        margin = 1.2 if dtype == "float32" else 2.0  # float32's allowance is its fixed systematic term
        if noise is not None and 1 / (n - 1) <= margin * noise[1] or noise is None and n > 100:
            pytest.skip(f"1/(n - 1) is within the rounding noise of {n} {dtype} values: the policy's stated limit")
    result = cmp.compare(round_to(actual, dtype), exact, dtype, terms=n)
    assert not result.ok, f"{wrong} gradient at n = {n} passed in {dtype}"


def test_one_over_n_minus_one_is_seen_where_the_issue_measured_it():
    """bfloat16 at 257 elements, float16 at 2049 and float32 at 65537: all passed before."""
    for n, dtype in ((257, "bfloat16"), (2049, "float16"), (65537, "float32")):
        d, exact = _mean_gradient(n, dtype)
        assert not cmp.compare(round_to(d / (n - 1), dtype), exact, dtype, terms=n).ok, (n, dtype)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_bfloat16s_count_of_257_fails_in_every_dtype(dtype):
    """1/256 in place of 1/257 (the count 257 kept in bfloat16), over a (257, 3) gradient."""
    d = np.random.default_rng(7).standard_normal((257, 3)) * 2.0
    exact = d / 257
    result = cmp.compare(round_to(d / 256, dtype), exact, dtype, terms=d.size)
    assert not result.ok
    if dtype in ("float16", "bfloat16"):  # float32's and float64's elementwise budgets see it already
        assert "scaled by" in result.message and "biased" in result.message


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_the_low_precision_budget_does_not_grow_as_a_whole(dtype):
    """At n = 120 a bfloat16 result grown as a whole would be allowed 25 %; the format's own part
    stays 8 u and only float32's accumulation term grows."""
    rtol, _ = cmp.grown(cmp.TOLERANCES[dtype], dtype, cmp.budget_growth(120))
    assert rtol < 8 * FORMATS[dtype].unit_roundoff + 8 * 32 * FORMATS["float32"].unit_roundoff
    rtol, _ = cmp.grown(cmp.TOLERANCES[dtype], dtype, cmp.budget_growth(2**27))
    assert rtol < 9 * FORMATS[dtype].unit_roundoff


def test_the_floor_follows_the_tensor_not_one():
    """A gradient of size 1/n with one element zeroed fails, however small 1/n is."""
    for n in (257, 65537):
        _, exact = _mean_gradient(n, "float32")
        actual = round_to(exact, "float32")
        actual[n // 2] = 0.0
        assert not cmp.compare(actual, exact, "float32", terms=n).ok


def test_several_roundings_per_element_widen_only_the_random_term():
    """Errors of several units per element, scattered around zero, are no bias."""
    rng = np.random.default_rng(3)
    exact = rng.standard_normal(2049) / 2049
    u = FORMATS["float16"].unit_roundoff
    actual = round_to(exact * (1 + rng.uniform(-4 * u, 4 * u, exact.size)), "float16")
    assert cmp.compare(actual, exact, "float16", terms=exact.size).ok


def test_the_property_search_keeps_a_spec_s_systematic_term():
    """normwise_tolerance widens the floor for drawn inputs and keeps the rest of the spec's
    tolerance: ctc_loss's float32 scale-error term (its nll carries a shared error) included."""
    from conformance.cases import conformance_grid
    from conformance.properties.strategies import normwise_tolerance
    from conformance.registry import REGISTRY

    spec = REGISTRY["ctc_loss"]
    case = next(c for c in conformance_grid(functions=("ctc_loss",)) if c.dtype == "float32")
    drawn = type("Drawn", (), {"dtype": "float32", "call": spec.sample(case.rng(), case)})()
    tolerance = normwise_tolerance(spec, drawn)
    assert tolerance.systematic == spec.tolerance("float32").systematic != cmp.TOLERANCES["float32"].systematic
    assert tolerance.floor >= 1.0 and tolerance.rtol == spec.tolerance("float32").rtol
