"""conformance.dtypes against oracles that share nothing with it: every bfloat16 and float16
value read from its bit pattern, exact rational distances (fractions), and NumPy's own casts
and spacing. None of it needs torch, and all of it must hold on NumPy 1 and 2 alike."""

import doctest
import math
from fractions import Fraction

import numpy as np
import pytest

import conformance.dtypes
from conformance.dtypes import FLOAT_DTYPES, FORMATS, _round_to_format, round_to, ulp


def table(dtype):
    """Every non-negative finite value of ``dtype`` in order, then 2^(emax+1) where inf's pattern is.

    Consecutive bit patterns are consecutive values, and a pattern is even exactly when its last
    significand bit is, so index parity decides ties. The last entry is the value the format
    would have there with an unbounded exponent: what IEEE rounds to before calling it overflow.
    """
    if dtype == "bfloat16":  # the upper half of a float32
        values = (np.arange(0x7F81, dtype=np.uint32) << np.uint32(16)).view(np.float32)
    else:
        values = np.arange(0x7C01, dtype=np.uint16).view(np.float16)
    values = values.astype(np.float64)
    values[-1] = 2 * values[-2] - values[-3]
    assert values[-2] == FORMATS[dtype].max and math.log2(values[-1]).is_integer()
    return values


TABLES = {dtype: table(dtype) for dtype in ("bfloat16", "float16")}


def pairs(dtype):
    """Adjacent non-negative values (a, b) of ``dtype`` and whether a is even; past the maximum,
    b is 2^(emax+1). All of them for bfloat16 and float16, a sample of float32's."""
    if dtype != "float32":
        values = TABLES[dtype]
        return values[:-1], values[1:], np.arange(len(values) - 1) % 2 == 0
    # random bit patterns over the whole finite range, and the edges of the subnormals and the top
    bits = np.random.default_rng(0).integers(0, 0x7F800000, 20_000, dtype=np.uint32)
    bits = np.concatenate([bits, np.array([0, 0x007FFFFF, 0x7F7FFFFF], dtype=np.uint32)])
    a = bits.view(np.float32).astype(np.float64)
    b = (bits + np.uint32(1)).view(np.float32).astype(np.float64)
    return a, np.where(np.isinf(b), 2.0**128, b), bits % np.uint32(2) == 0


def finite_or_inf(b, dtype):
    return np.where(b > FORMATS[dtype].max, np.inf, b)


def roundings(dtype):
    """round_to itself, and the method it uses for bfloat16 tried on formats NumPy can check."""
    return [lambda x: round_to(x, dtype), lambda x: _round_to_format(np.asarray(x, dtype=np.float64), FORMATS[dtype])]


def assert_identical(got, expected):
    """Equal values, NaN where NaN, and the same sign on zeros (a NaN's sign means nothing)."""
    got, expected = np.asarray(got), np.asarray(expected)
    assert got.dtype == np.float64 and got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(np.signbit(got) | np.isnan(got), np.signbit(expected) | np.isnan(expected))


# --- rounding, exhaustively at the midpoints ------------------------------------------------


@pytest.mark.parametrize("dtype", ["bfloat16", "float16", "float32"])
def test_every_midpoint_and_its_neighbours_round_to_nearest_ties_to_even(dtype):
    a, b, a_even = pairs(dtype)
    mid = (a + b) / 2  # exact: a and b have far fewer significand bits than float64
    b_or_inf = finite_or_inf(b, dtype)
    for rounding in roundings(dtype):
        for sign in (1.0, -1.0):
            assert_identical(rounding(sign * a), sign * a)
            assert_identical(rounding(sign * np.nextafter(mid, 0)), sign * a)
            assert_identical(rounding(sign * mid), sign * np.where(a_even, a, b_or_inf))
            assert_identical(rounding(sign * np.nextafter(mid, np.inf)), sign * b_or_inf)


def nearest(x, values):
    """The value of ``values`` (a ``table``) nearest to x, by exact rational distance; ties to even."""
    if x == 0 or math.isinf(x):
        return x
    i = int(np.searchsorted(values, abs(x)))  # values[i - 1] < |x| <= values[i]
    if i == len(values):
        return math.copysign(math.inf, x)
    below, above = Fraction(abs(x)) - Fraction(values[i - 1]), Fraction(values[i]) - Fraction(abs(x))
    pick = i - 1 if below < above or (below == above and (i - 1) % 2 == 0) else i
    return math.copysign(math.inf if pick == len(values) - 1 else values[pick], x)


def samples(n=10_000):
    """float64 values from random bit patterns (any sign, size or subnormal), and as many spread
    evenly in log scale over the range of bfloat16 and float16, where the bit patterns rarely go."""
    rng = np.random.default_rng(2)
    anywhere = rng.integers(0, 2**64, n, dtype=np.uint64).view(np.float64)
    inside = rng.choice([-1.0, 1.0], n) * rng.uniform(1, 2, n) * 2.0 ** rng.integers(-140, 130, n)
    return np.concatenate([anywhere[np.isfinite(anywhere)], inside, [0.0, -0.0, np.inf, -np.inf]])


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_rounding_matches_exact_rational_rounding(dtype):
    x = samples()
    expected = [nearest(v, TABLES[dtype]) for v in x.tolist()]
    for rounding in roundings(dtype):
        assert_identical(rounding(x), expected)


# --- rounding, the cases by name -------------------------------------------------------------

BF16_MAX = float.fromhex("0x1.fep127")
BF16_OVERFLOW = float.fromhex("0x1.ffp127")  # halfway from the maximum to 2^128


@pytest.mark.parametrize("x, expected", [
    # float32 would round these onto a bfloat16 midpoint, whose tie then goes the wrong way
    (1 + 2**-8 + 2**-40, 1 + 2**-7),
    (1 + 3 * 2**-8 - 2**-40, 1 + 2**-7),
    (np.nextafter(BF16_OVERFLOW, 0), BF16_MAX),
])
def test_bfloat16_rounds_once_not_through_float32(x, expected):
    assert round_to(np.array([float(np.float32(x))]), "bfloat16")[0] != expected  # rounding twice goes wrong
    assert_identical(round_to(np.array([x]), "bfloat16"), [expected])


@pytest.mark.parametrize("x, expected", [
    (BF16_MAX, BF16_MAX),
    (np.nextafter(BF16_OVERFLOW, 0), BF16_MAX),
    (BF16_OVERFLOW, math.inf),  # a tie, and its even side is 2^128
    (float(np.finfo(np.float32).max), math.inf),
    (2.0**128, math.inf),
    (float(np.finfo(np.float64).max), math.inf),
    (math.inf, math.inf),
])
def test_bfloat16_overflows_at_the_midpoint_past_its_maximum(x, expected):
    assert_identical(round_to(np.array([x, -x]), "bfloat16"), [expected, -expected])


@pytest.mark.parametrize("x, expected", [
    (2.0**-133, 2.0**-133),  # the smallest subnormal
    (2.0**-134, 0.0),  # a tie between 0 and it: 0 is even
    (np.nextafter(2.0**-134, 1), 2.0**-133),
    (3 * 2.0**-134, 2.0**-132),  # a tie: 2 x 2^-133 is even
    (127 * 2.0**-133, 127 * 2.0**-133),  # the largest subnormal
    (255 * 2.0**-134, 2.0**-126),  # rounds up to the smallest normal
    (2.0**-126 + 2.0**-134, 2.0**-126),
    (5e-324, 0.0),  # float64's smallest subnormal
    (1e-300, 0.0),
])
def test_bfloat16_subnormals_share_float32s_exponent_range(x, expected):
    assert_identical(round_to(np.array([x, -x]), "bfloat16"), [expected, -expected])


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_nan_infinities_and_signed_zeros_pass_through(dtype):
    x = np.array([np.nan, -np.nan, np.inf, -np.inf, 0.0, -0.0])
    assert_identical(round_to(x, dtype), x)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("x", [1.0 + 2**-9, np.float64(1.0 + 2**-9), np.array(1.0 + 2**-9), [1.0 + 2**-9]])
def test_scalars_and_lists_round_like_arrays(dtype, x):
    # NumPy 1 promotes a 0-d operand by its value, NumPy 2 by its type: scalars once failed on 1.
    expected = round_to(np.array([1.0 + 2**-9]), dtype)
    got = round_to(x, dtype)
    assert np.shape(got) == np.shape(x) and np.asarray(got).dtype == np.float64
    np.testing.assert_array_equal(np.ravel(got), expected)


def test_float64_is_returned_as_a_copy():
    x = np.array([1.0, 2.0])
    assert round_to(x, "float64") is not x and np.array_equal(round_to(x, "float64"), x)


def test_unknown_dtype_is_an_error():
    with pytest.raises(ValueError, match="unknown floating-point dtype 'int8'"):
        round_to(np.array([1.0]), "int8")


# --- ulp --------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["bfloat16", "float16", "float32"])
def test_ulp_is_the_gap_to_the_next_value(dtype):
    a, b, _ = pairs(dtype)
    gap = b - a
    np.testing.assert_array_equal(ulp(a, dtype), gap)
    np.testing.assert_array_equal(ulp(-a, dtype), gap)
    # just below b, where a power of two makes floor(log2(x)) one too high
    np.testing.assert_array_equal(ulp(np.nextafter(b, 0), dtype), gap)


def test_ulp_matches_numpys_spacing():
    rng = np.random.default_rng(1)
    x = (rng.uniform(1, 2, 10_000) * 2.0 ** rng.integers(-140, 126, 10_000)).astype(np.float32)
    np.testing.assert_array_equal(ulp(x.astype(np.float64), "float32"), np.spacing(x).astype(np.float64))
    y = rng.uniform(1, 2, 10_000) * 2.0 ** rng.integers(-1070, 1023, 10_000)
    below_powers_of_two = np.nextafter(2.0 ** np.arange(-1000, 1000, 7.0), 0)
    for x in (y, below_powers_of_two):
        np.testing.assert_array_equal(ulp(x, "float64"), np.spacing(x))


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_ulp_of_zero_infinity_and_nan(dtype):
    fmt = FORMATS[dtype]
    got = ulp(np.array([0.0, -0.0, np.inf, -np.inf, np.nan]), dtype)
    smallest = 2.0 ** (fmt.emin - fmt.precision + 1)
    # compare.py divides errors by ulp: NaN must not turn a zero error into NaN
    np.testing.assert_array_equal(got, [smallest, smallest, np.inf, np.inf, smallest])
    assert ulp(np.float64(1.0), dtype) == fmt.eps


def test_doctests():
    assert doctest.testmod(conformance.dtypes).failed == 0
