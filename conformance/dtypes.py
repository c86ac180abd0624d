"""Floating-point formats by name, in NumPy alone (bfloat16 included).

Inputs are generated in float64 and rounded to the case's format here, so that the
reference (float64) and the target (the case dtype) see exactly the same values.
"""

import numpy as np

FLOAT_DTYPES = ("float64", "float32", "float16", "bfloat16")


class Format:
    """An IEEE-754-style binary format: ``precision`` significand bits, ``emin``, ``max``."""

    def __init__(self, name, precision, emin, max_value):
        self.name, self.precision, self.emin, self.max = name, precision, emin, max_value
        self.eps = 2.0 ** (1 - precision)  # spacing of the format at 1.0
        self.unit_roundoff = self.eps / 2
        self.tiny = 2.0**emin  # smallest normal: below it the format has no relative precision

    def __repr__(self):
        return f"Format({self.name})"


FORMATS = {
    "float64": Format("float64", 53, -1022, float(np.finfo(np.float64).max)),
    "float32": Format("float32", 24, -126, float(np.finfo(np.float32).max)),
    "float16": Format("float16", 11, -14, 65504.0),
    "bfloat16": Format("bfloat16", 8, -126, float.fromhex("0x1.fep127")),
}


def _round_to_format(x, fmt):
    """Round float64 ``x`` to ``fmt`` in one step, to nearest, ties to even (as float64).

    Float arithmetic alone, so NumPy 1's and 2's integer promotion rules never enter.
    """
    _, e = np.frexp(x)  # |x| = m 2^e with 1/2 <= m < 1
    # The spacing of fmt at |x| is 2^q, fixed below the smallest normal (the subnormals). intc:
    # ldexp has no int64 loop where a C long is 32 bits (Windows).
    q = np.maximum(e - fmt.precision, fmt.emin - fmt.precision + 1).astype(np.intc)
    # Scaling by 2^q is exact, so rint (ties to even) is the only rounding.
    with np.errstate(over="ignore"):  # next to float64's maximum, where the answer is inf anyway
        rounded = np.ldexp(np.rint(np.ldexp(x, -q)), q)
    # rint rounded as if the exponent had no bound, which is how IEEE decides overflow: all that
    # landed past the largest finite value (the last midpoint too: its even side is 2^(emax+1)) is inf.
    return np.where(np.abs(rounded) > fmt.max, np.copysign(np.inf, x), rounded)


def round_to(x, dtype):
    """Round float64 values to the nearest value of ``dtype``, returned as float64.

    >>> round_to(np.array([1.0 + 2.0**-9, 3.4e38]), "bfloat16").tolist()
    [1.0, inf]
    >>> round_to(np.array([70000.0]), "float16").tolist()
    [inf]
    """
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(over="ignore"):
        if dtype == "float64":
            return x.copy()
        if dtype == "float32":
            return x.astype(np.float32).astype(np.float64)
        if dtype == "float16":
            return x.astype(np.float16).astype(np.float64)
        if dtype == "bfloat16":
            # NumPy has no bfloat16, and going through float32 would round twice.
            return _round_to_format(x, FORMATS["bfloat16"])
    raise ValueError(f"unknown floating-point dtype {dtype!r}")


def ulp(x, dtype):
    """The spacing of ``dtype`` at each ``|x|`` (the subnormal spacing near 0).

    >>> ulp(np.array([1.0, 0.0]), "float16").tolist()
    [0.0009765625, 5.960464477539063e-08]
    """
    fmt = FORMATS[dtype]
    ax = np.abs(np.asarray(x, dtype=np.float64))
    # frexp's exponent is exact; floor(log2(ax)) is one too high just below large powers of two.
    _, e = np.frexp(np.where(np.isfinite(ax), ax, 0.0))  # ax = m 2^e with 1/2 <= m < 1
    exponent = np.maximum(np.where(ax > 0, e - 1, fmt.emin), fmt.emin)
    spacing = np.exp2(exponent - (fmt.precision - 1))
    return np.where(np.isinf(ax), np.inf, spacing)  # NaN gets the spacing at 0, so 0 / ulp stays 0
