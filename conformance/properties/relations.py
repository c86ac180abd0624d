"""What the property search checks: the differential property (the harness's forward and
backward checks on a drawn case) and the metamorphic relations, each evaluated on the target
and on the reference; and which drawn inputs are known divergences of torch (their records
live in ``conformance/known_divergences/``)."""

import dataclasses
import math
from functools import cache

import numpy as np
from hypothesis import event

from .. import divergences, guard, harness
from ..compare import TOLERANCES, budget_growth, compare
from ..registry import REGISTRY, Call
from ..reproducers import describe_call
from ..tensors import convert_call, to_numpy
from .strategies import DRAWN_FLOOR, copy_call, normwise_tolerance

# --- running and judging -----------------------------------------------------------------


def snippet(function, call, dtype, target_name="F"):
    """The call, pasteable after ``import torch, torch.nn.functional as F``."""
    return describe_call(function, call, dtype, target_name)


def _without_rerun(message):
    return "\n".join(line for line in message.splitlines() if not line.startswith("rerun:"))


def check_differential(drawn, target, checks=("forward", "backward")):
    """The harness's forward and backward checks on a drawn case; failures as one message.
    A check of a known divergence (:func:`known_divergence`) is not judged."""
    problems = []
    for check in checks:
        known = known_divergence(check, drawn, target)
        if known:
            event(f"{check}: known divergence: {known.reason[:60]}")
            continue
        outcome = {"forward": harness.check_forward, "backward": harness.check_backward}[check](drawn, target)
        if outcome.status == "failed":
            problems.append(f"{check}: {_without_rerun(outcome.message)}")
    return problems


def run_target(target, function, call, dtype):
    """The target's result as float64 NumPy (raises what the target raises)."""
    args, kwargs, _ = convert_call(call, dtype, "cpu")
    return to_numpy(guard.in_target(target.function(function), *args, **kwargs))


def run_reference(function, call):
    positional, keywords = call.split()
    return np.asarray(guard.quiet(harness.reference_function(function), *positional, **keywords),
                      dtype=np.float64)


def agree(actual, expected, dtype, spec, n_terms=1, magnitude=None, overflow_ok=False, what="output"):
    """``compare`` with the spec's tolerance for ``dtype``; ``magnitude`` (the sum of the
    absolute values of the terms) widens the absolute budget for results of cancellation."""
    tolerance = spec.tolerance(dtype) or TOLERANCES[dtype]
    expected = np.asarray(expected, dtype=np.float64)
    floor = max(tolerance.floor, DRAWN_FLOOR)
    if magnitude is not None and np.isfinite(magnitude):
        floor = max(floor, magnitude)
    tolerance = dataclasses.replace(tolerance, floor=floor)
    return compare(actual, expected, dtype, tolerance, budget_growth(n_terms), what=what, overflow_ok=overflow_ok)


class Runner:
    """Evaluates a function on the target (in the case dtype) or the reference (float64)."""

    def __init__(self, kind, target, drawn):
        self.kind, self.target, self.drawn = kind, target, drawn
        explicit = drawn.call.args.get("dtype")  # an explicit output dtype: the result is in it
        self.dtype = (explicit if isinstance(explicit, str) else drawn.dtype) if kind == "target" else "float64"

    def __call__(self, call):
        if self.kind == "target":
            return run_target(self.target, self.drawn.function, call, self.drawn.dtype)
        return run_reference(self.drawn.function, call)

    def snippet(self, call):
        if self.kind == "target":
            return snippet(self.drawn.function, call, self.drawn.dtype)
        return snippet(self.drawn.function, call, "float64", "reference")


def _n_terms(call):
    sizes = [v.size for v in call.args.values() if isinstance(v, np.ndarray)]
    return max(sizes, default=1)


def _report(runner, relation, calls, comparison):
    lines = [f"{relation} does not hold for the {runner.kind} ({runner.dtype}): {comparison.message}"]
    lines += [f"  {label}: {runner.snippet(call)}" for label, call in calls]
    return "\n".join(lines)


def _flat(x):
    return np.asarray(x, dtype=np.float64).reshape(-1)


# --- metamorphic relations: each returns a failure message or "" ---------------------------


def has_reductions(spec, *reductions):
    return "reduction" in spec.options and all(r in spec.options["reduction"] for r in reductions)


def sum_of_none(runner, drawn):
    """``reduction="sum"`` equals the sum of ``reduction="none"``."""
    none_call, sum_call = copy_call(drawn.call, reduction="none"), copy_call(drawn.call, reduction="sum")
    terms = _flat(runner(none_call))
    total = runner(sum_call)
    with np.errstate(invalid="ignore", over="ignore"):
        expected, magnitude = np.sum(terms), np.sum(np.abs(terms))
    result = agree(total, expected, runner.dtype, REGISTRY[drawn.function], terms.size, magnitude,
                   overflow_ok=drawn.values == "extreme")
    return "" if result.ok else _report(runner, "sum == sum(none)", [("sum", sum_call), ("none", none_call)], result)


# Functions whose batch is not the first dimension of every argument.
NOT_PERMUTABLE = {"ctc_loss": "the batch is dimension 1 of log_probs (T, N, C)"}


def _batched(name, value, first, none_rank):
    """Whether an argument runs along the batch (dimension 0) of the first argument: the same
    rank, or one rank less where the output loses the class axis (class-index targets,
    cosine targets) and for gaussian_nll_loss's ``var`` (broadcast as ``var[..., None]``)."""
    if not isinstance(value, np.ndarray) or value.ndim == 0 or value.shape[0] != first.shape[0]:
        return False
    return value.ndim == first.ndim or (value.ndim == first.ndim - 1 and (name == "var" or none_rank < first.ndim))


def permutable(call, none_output):
    """Whether permuting the batch of ``call`` is well defined: a batch of at least 2 that the
    ``"none"`` output keeps, and no argument of a higher rank than the first."""
    first = next(iter(call.args.values()))
    if not isinstance(first, np.ndarray) or first.ndim == 0 or first.shape[0] < 2:
        return False
    if none_output.ndim == 0 or none_output.shape[0] != first.shape[0]:
        return False
    return all(v.ndim <= first.ndim for v in call.args.values() if isinstance(v, np.ndarray))


def permuted_call(call, permutation, none_rank):
    """``call`` with every batched argument permuted along dimension 0."""
    first = next(iter(call.args.values()))
    args = {name: value[permutation] if _batched(name, value, first, none_rank) else value
            for name, value in call.args.items()}
    return Call(args, call.positional)


def batch_permutation(runner, drawn, permutation, none_rank):
    """Permuting the batch permutes ``"none"`` and leaves ``"sum"`` and ``"mean"`` alone."""
    spec = REGISTRY[drawn.function]
    problems = []
    for reduction in [r for r in ("none", "sum", "mean") if r in spec.options.get("reduction", ())] or [None]:
        call = copy_call(drawn.call, **({"reduction": reduction} if reduction else {}))
        moved = permuted_call(call, permutation, none_rank)
        before, after = runner(call), runner(moved)
        if reduction in ("none", None):
            expected, magnitude, n = before[permutation], None, 1
        else:
            expected, n = before, _n_terms(call)
            with np.errstate(invalid="ignore", over="ignore"):
                magnitude = np.sum(np.abs(runner(copy_call(call, reduction="none"))))
                if reduction == "mean":
                    magnitude = magnitude / max(permutation.size, 1)
        result = agree(after, expected, runner.dtype, spec, n, magnitude, overflow_ok=drawn.values == "extreme")
        if not result.ok:
            problems.append(_report(runner, f"batch permutation {permutation.tolist()} ({reduction})",
                                    [("original", call), ("permuted", moved)], result))
    return "\n".join(problems)


# Functions whose weighted "mean" is the weighted average sum(w l) / sum(w), with the weight in
# the input's shape: where the target broadcasts the input up, sum(w) counts fewer terms than
# the loss has, so weight=ones is not weight=None (the reference reproduces it).
WEIGHTED_AVERAGE = ("mse_loss", "l1_loss")


def weights_every_term(drawn, name):
    """Whether ``name=ones`` weights every term of the loss once, so that it equals no weight."""
    args = drawn.call.args
    if drawn.function not in WEIGHTED_AVERAGE or args.get("reduction", "mean") != "mean":
        return True
    terms = np.broadcast_shapes(np.shape(args["input"]), np.shape(args["target"]))
    return math.prod(terms) == np.size(args[name])


def weight_ones(runner, drawn, name):
    """``name=ones`` (a weight of the spec's shape) equals ``name=None``."""
    ones = copy_call(drawn.call, **{name: np.ones_like(drawn.call.args[name])})
    plain = copy_call(drawn.call, **{name: None})
    result = agree(runner(ones), runner(plain), runner.dtype, REGISTRY[drawn.function], _n_terms(plain),
                   overflow_ok=drawn.values == "extreme")
    return "" if result.ok else _report(runner, f"{name}=ones == {name}=None",
                                        [("ones", ones), ("None", plain)], result)


def _flatten_classes(x):
    return np.moveaxis(x, 1, -1).reshape(-1, x.shape[1])


def dropping_ignored(runner, drawn):
    """Targets equal to ``ignore_index`` count as if their rows were dropped; a K-dimensional
    input counts as its flattened ``(M, C)`` form."""
    call = drawn.call
    x, t, ignore = call.args["input"], call.args["target"], call.args["ignore_index"]
    kept = _flat(t) != ignore
    dropped = copy_call(call, input=_flatten_classes(x)[kept], target=t.reshape(-1)[kept])
    full, reduced = runner(call), runner(dropped)
    spec = REGISTRY[drawn.function]
    if call.args["reduction"] == "none":
        actual, expected = _flat(full)[kept], reduced
        ignored = _flat(full)[~kept]
        if np.any(ignored != 0):
            return _report(runner, "ignore_index", [("original", call)],
                           compare(ignored, np.zeros_like(ignored), runner.dtype, what="ignored elements"))
        magnitude = None
    else:
        actual, expected = full, reduced
        with np.errstate(invalid="ignore", over="ignore"):
            magnitude = np.sum(np.abs(runner(copy_call(call, reduction="none"))))
    result = agree(actual, expected, runner.dtype, spec, _n_terms(call), magnitude,
                   overflow_ok=drawn.values == "extreme")
    return "" if result.ok else _report(runner, "ignore_index == dropping the ignored rows",
                                        [("original", call), ("dropped", dropped)], result)


def float64_bounds_float32(target, drawn):
    """The target's float32 result is within the float32 budget of its float64 result on
    the same (float32) inputs."""
    spec = REGISTRY[drawn.function]
    call = drawn.call
    wide = run_target(target, drawn.function, call, "float64")
    if isinstance(call.args.get("dtype"), str):
        return ""  # an explicit output dtype: both runs compute in it
    narrow = run_target(target, drawn.function, call, "float32")
    tolerance = normwise_tolerance(spec, drawn)
    result = compare(narrow, wide, "float32", tolerance, budget_growth(_n_terms(call)))
    if result.ok:
        return ""
    return (f"float32 result out of budget of the float64 result: {result.message}\n"
            f"  float32: {snippet(drawn.function, call, 'float32')}\n"
            f"  float64: {snippet(drawn.function, call, 'float64')}")


# --- known divergences of torch: the records of conformance/known_divergences/ ----------------


def _reduction_ids(drawn):
    """The drawn case's id under each reduction of its spec (a metamorphic relation runs them all)."""
    spec = REGISTRY[drawn.function]
    reductions = spec.options.get("reduction", ())
    ids = [drawn.id]
    for reduction in reductions:
        options = dict(drawn.base.options, reduction=reduction)
        options = tuple((name, options[name]) for name in spec.options
                        if name in options and not (name == "reduction" and reduction == reductions[0]))
        ids.append(dataclasses.replace(drawn.base, options=options).data_id[:-1] + ", drawn)")
    return ids


@cache
def _divergences():
    return tuple(divergences.records())


def known_divergence(test, drawn, target):
    """The record of ``known_divergences/`` that makes ``drawn`` a known divergence of torch
    for ``test``, or None (it is then judged): a property record whose predicate holds, or a
    grid record whose pattern matches the drawn case's id. The metamorphic tests skip inputs
    whose forward diverges, under any reduction they run."""
    if not target.inherits_torch_divergences:
        return None
    differential = test in ("forward", "backward")
    check = test if differential else "forward"
    ids = [drawn.id] if differential else _reduction_ids(drawn)
    for entry in _divergences():
        if entry.holds_for(check, drawn) or any(entry.applies(check, case_id) for case_id in ids):
            return entry
    return None
