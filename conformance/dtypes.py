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


def _round_to_bfloat16(x):
    bits = np.asarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000  # round half to even
    out = rounded.astype(np.uint32).view(np.float32).astype(np.float64)
    return np.where(np.isnan(x), np.nan, out)


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
            # float64 -> float32 -> bfloat16 may double-round; harmless for generated inputs
            # (any nearby value will do) and the only use of this for expectations is overflow.
            return _round_to_bfloat16(x.astype(np.float32))
    raise ValueError(f"unknown floating-point dtype {dtype!r}")


def ulp(x, dtype):
    """The spacing of ``dtype`` at each ``|x|`` (the subnormal spacing near 0).

    >>> ulp(np.array([1.0, 0.0]), "float16").tolist()
    [0.0009765625, 5.960464477539063e-08]
    """
    fmt = FORMATS[dtype]
    ax = np.abs(np.asarray(x, dtype=np.float64))
    with np.errstate(divide="ignore"):
        exponent = np.floor(np.log2(np.where(ax > 0, ax, 1.0)))
    exponent = np.maximum(np.where(ax > 0, exponent, fmt.emin), fmt.emin)
    return np.exp2(exponent - (fmt.precision - 1))
