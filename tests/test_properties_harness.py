"""The property search finds planted faults and shrinks them to small reproducers.

How far Hypothesis shrinks a shape depends on its version (the derandomized search differs
between releases), so these tests assert the finding and the pasteable reproducer; only the
softmax case, whose shrink is a single value, asserts the shrunk result."""

import math

import numpy as np
import torch
import torch.nn.functional as F
from hypothesis import find, settings

from conformance import properties as P
from tests.planted import faulty_target

SEARCH = settings(max_examples=300, derandomize=True, database=None, deadline=None,
                  suppress_health_check=list(P.SUPPRESSED_HEALTH_CHECKS))


def _cross_entropy_without_smoothing_in_sum(input, target, weight=None, size_average=None, ignore_index=-100,
                                            reduce=None, reduction="mean", label_smoothing=0.0):
    smoothing = 0.0 if reduction == "sum" else label_smoothing
    return F.cross_entropy(input, target, weight, ignore_index=ignore_index, reduction=reduction,
                           label_smoothing=smoothing)


def _softmax_without_max_subtraction(input, dim=None, _stacklevel=3, dtype=None):
    x = input if dtype is None else input.to(dtype)
    dim = dim if dim is not None else (0 if x.dim() in (0, 1, 3) else 1)
    e = torch.exp(x)
    return e / e.sum(dim=dim, keepdim=True)


def test_sum_of_none_finds_label_smoothing_ignored_by_sum():
    target = faulty_target(cross_entropy=_cross_entropy_without_smoothing_in_sum)
    drawn = find(P.drawn_cases("cross_entropy", where=lambda c: c.option("label_smoothing") != 0.0),
                 lambda d: bool(P.sum_of_none(P.Runner("target", target, d), d)), settings=SEARCH)
    message = P.sum_of_none(P.Runner("target", target, drawn), drawn)
    assert "label_smoothing=" in message and "F.cross_entropy(" in message  # a pasteable call


def test_differential_finds_label_smoothing_ignored_by_sum():
    target = faulty_target(cross_entropy=_cross_entropy_without_smoothing_in_sum)
    drawn = find(P.drawn_cases("cross_entropy"), lambda d: bool(P.check_differential(d, target, ("forward",))),
                 settings=SEARCH)
    assert drawn.call.args["reduction"] == "sum" and drawn.call.args["label_smoothing"] != 0.0


def test_differential_finds_softmax_without_max_subtraction():
    target = faulty_target(softmax=_softmax_without_max_subtraction)
    drawn = find(P.drawn_cases("softmax"), lambda d: bool(P.check_differential(d, target, ("forward",))),
                 settings=SEARCH)
    x = drawn.call.args["input"]
    assert np.count_nonzero(x) == 1, drawn.call  # shrunk to a single large value, which overflows exp
    assert np.max(np.abs(x)) > math.log(np.finfo(np.float16).max)
