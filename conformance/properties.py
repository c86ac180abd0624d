"""Property-based search for counterexamples: Hypothesis strategies and property checks.

The grid of ``cases.py`` tries fixed values; here Hypothesis draws them, shrinks any
disagreement to a small call and prints it as a pasteable snippet. Every registered function
is searched (the registry is read when the tests are collected):

* **differential**: a case of the grid (shape, options, dtype, value class), the batch size
  varied, its free real-valued arrays redrawn with subnormals, huge magnitudes, ties, NaN and
  inf; the target's forward and backward must match the reference, judged by the same checks
  as the conformance suite (:mod:`conformance.harness`);
* **metamorphic** (target and reference alike): ``"sum"`` is the sum of ``"none"``; permuting
  the batch permutes ``"none"`` and leaves ``"sum"`` and ``"mean"`` alone; ``weight=ones`` is
  no weight; ``ignore_index`` is dropping those targets (and a K-dimensional input is its
  flattened ``(M, C)`` form); the float32 result is within the float32 budget of the target's
  own float64 result on the same inputs.

Profiles: ``quick`` (a few derandomized examples per test, the default run, also used under
Hypothesis' ``default`` and ``ci`` profiles) and ``thorough``. Select with the environment
variable ``HYPOTHESIS_PROFILE=thorough``, or with ``--hypothesis-profile=thorough`` once the
profile is registered before pytest configures Hypothesis (``-p conformance.properties`` on the
command line does that).

Free arrays are the floating-point arguments every real value of which is valid: by default
those named in :data:`FREE`, else as :data:`DOMAINS` says for the function. Arrays that carry a
domain (probabilities, class weights, variances, +-1 targets) keep the spec's own values, which
its value classes already push to their edges.

Overflow: inputs of magnitude at least the fourth root of float16/bfloat16's maximum, or
whose ``exp`` (or a product with it) exceeds the maximum where a function exponentiates an
argument (:func:`exp_overflows`), are judged like the ``extreme`` value class (a non-finite
result may stand in for a finite one; finite results keep their budget); in float32/float64
huge draws stop below ``max**(1/4) / 16``, where no polynomial intermediate of a loss
(squares, cubes of a p-norm, their sums) overflows, so there no overflow is tolerated: the
``exp`` overflows float32 reaches are known divergences (the harness applies the overflow
rule in float16 and bfloat16 only).
"""

import dataclasses
import math
import os
import warnings
from functools import cache

import numpy as np
from hypothesis import HealthCheck, assume, event, note, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from . import divergences, harness
from .cases import Case, generate
from .compare import TOLERANCES, Tolerance, budget_growth, compare
from .dtypes import FORMATS, round_to
from .registry import REGISTRY, Call
from .targets import convert_call, to_numpy

# --- profiles ----------------------------------------------------------------------------

_HEALTH = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much,
           HealthCheck.large_base_example, HealthCheck.function_scoped_fixture]
settings.register_profile("quick", max_examples=3, deadline=None, derandomize=True, database=None,
                          suppress_health_check=_HEALTH, print_blob=True)
settings.register_profile("thorough", max_examples=150, deadline=None, suppress_health_check=_HEALTH,
                          print_blob=True)
QUICK_ALIASES = ("default", "ci")  # Hypothesis' own profiles: the default run stays quick


def profile_name():
    """The active profile: ``HYPOTHESIS_PROFILE``, else the one Hypothesis has loaded."""
    name = os.environ.get("HYPOTHESIS_PROFILE") or settings.get_current_profile_name()
    return "quick" if name in QUICK_ALIASES else name


def property_settings(scale=1.0):
    """Settings for one property test; ``scale`` shrinks its example count under ``thorough``."""
    profile = settings.get_profile(profile_name())
    if profile_name() == "quick":
        return profile
    return settings(profile, max_examples=max(1, int(profile.max_examples * scale)))


# --- which arrays are drawn ----------------------------------------------------------------

REAL, UNIT, NONNEGATIVE = "real", "unit", "nonnegative"
LOG_PROBABILITY = "log-probability"  # real except +inf, which is the logarithm of no probability
FREE = ("input", "input1", "input2", "anchor", "positive", "negative", "log_probs")
_REGRESSION = {"input": REAL, "target": REAL}
# Functions whose free arguments differ from FREE: name -> (case, call) -> {argument: domain}.
DOMAINS = {
    "binary_cross_entropy": lambda case, call: {"input": UNIT, "target": UNIT},
    "binary_cross_entropy_with_logits": lambda case, call: {"input": REAL, "target": UNIT},
    "mse_loss": lambda case, call: _REGRESSION,
    "l1_loss": lambda case, call: _REGRESSION,
    "smooth_l1_loss": lambda case, call: _REGRESSION,
    "huber_loss": lambda case, call: _REGRESSION,
    "gaussian_nll_loss": lambda case, call: _REGRESSION,
    "kl_div": lambda case, call: {"input": REAL, "target": REAL if call.args.get("log_target") else NONNEGATIVE},
    "poisson_nll_loss": lambda case, call: {"input": REAL if call.args.get("log_input") else NONNEGATIVE,
                                            "target": NONNEGATIVE},
    # Log-probabilities: -inf (a probability of 0) and positive values (unnormalized, which
    # ctc_loss takes as given) are meaningful, +inf is not the logarithm of any probability.
    "ctc_loss": lambda case, call: {"log_probs": LOG_PROBABILITY},
}


def free_arguments(function, case, call):
    """``{argument: domain}`` of the floating-point arrays of ``call`` that are redrawn."""
    rule = DOMAINS.get(function)
    chosen = rule(case, call) if rule else {name: REAL for name in FREE}
    return {name: domain for name, domain in chosen.items()
            if isinstance(call.args.get(name), np.ndarray) and np.issubdtype(call.args[name].dtype, np.floating)}


# --- values --------------------------------------------------------------------------------

LOW_PRECISION = ("float16", "bfloat16")


def huge_limit(dtype):
    """The largest magnitude drawn: the format's maximum where the overflow rule applies."""
    fmt = FORMATS[dtype]
    return fmt.max if dtype in LOW_PRECISION else fmt.max**0.25 / 16


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


def _elements(dtype, domain, regime):
    fmt = FORMATS[dtype]
    smallest = 2.0 ** (fmt.emin - fmt.precision + 1)
    if domain == UNIT:
        moderate = st.floats(0.0, 1.0)
        special = st.sampled_from([0.0, 1.0, 0.5, smallest, fmt.tiny, 1.0 - fmt.eps / 2, 1.0 - fmt.eps])
        return {"moderate": moderate, "ties": st.sampled_from([0.0, 0.5, 1.0])}.get(regime,
                                                                                    st.one_of(moderate, special))
    moderate = st.floats(-8.0, 8.0)
    ties = st.sampled_from([0.0, 1.0, -1.0, 0.5, -0.5, 2.0, -2.0])
    top = int(math.floor(math.log2(huge_limit(dtype))))
    wide = st.builds(lambda sign, e, m: sign * m * 2.0**e, st.sampled_from([1.0, -1.0]),
                     st.integers(fmt.emin - fmt.precision + 1, top), st.floats(1.0, 2.0, exclude_max=True))
    special = st.sampled_from([math.nan, math.inf, -math.inf, -0.0, smallest, -smallest, fmt.tiny,
                               huge_limit(dtype), -huge_limit(dtype)])
    strategy = {"moderate": moderate, "ties": ties, "wide": st.one_of(moderate, wide),
                "special": st.one_of(moderate, wide, special)}[regime]
    if domain == NONNEGATIVE:
        strategy = strategy.map(lambda v: abs(v) if not math.isnan(v) else v)
    if domain == LOG_PROBABILITY:
        strategy = strategy.filter(lambda v: v != math.inf)
    return strategy


@st.composite
def values(draw, shape, dtype, domain=REAL):
    """An array of ``shape`` in a drawn regime (moderate, ties, wide range, special values),
    rounded to ``dtype`` and held in float64."""
    regime = draw(st.sampled_from(("moderate", "ties", "wide", "special")))
    x = draw(hnp.arrays(np.float64, tuple(shape), elements=_elements(dtype, domain, regime)))
    return round_to(x, dtype)


# --- drawn cases ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class DrawnCase:
    """A grid case with drawn data, shaped like :class:`conformance.cases.Case` so the
    harness's checks run on it unchanged: ``spec.sample`` returns the drawn call."""

    base: Case
    call: Call
    seed: int
    values: str = "drawn"  # "extreme" turns on the harness's overflow rule

    function = property(lambda self: self.base.function)
    dtype = property(lambda self: self.base.dtype)
    shape = property(lambda self: self.base.shape)
    options = property(lambda self: self.base.options)
    device = property(lambda self: self.base.device)
    option = property(lambda self: self.base.option)

    @property
    def spec(self):
        spec = REGISTRY[self.function]
        return dataclasses.replace(spec, sample=lambda rng, case: copy_call(self.call),
                                   tolerances={**spec.tolerances, self.dtype: normwise_tolerance(spec, self)})

    def rng(self, stream=0):
        return np.random.default_rng([self.seed, stream])

    @property
    def id(self):
        """Reads like a case id (so ``known_divergences/*.toml`` patterns apply), marked drawn."""
        return self.base.data_id[:-1] + ", drawn)"

    def __str__(self):
        return self.id


def normwise_tolerance(spec, drawn):
    """The spec's tolerance, with its absolute part in units of the largest finite input
    too, in float32 and below: drawn inputs far larger than the result (a margin of 1 against
    distances of 256 in bfloat16) leave errors of the inputs' size, not the result's."""
    tolerance = spec.tolerance(drawn.dtype) or TOLERANCES[drawn.dtype]
    if drawn.dtype == "float64":
        return tolerance
    floats = [a[np.isfinite(a)] for a in drawn.call.args.values()
              if isinstance(a, np.ndarray) and np.issubdtype(a.dtype, np.floating)]
    largest = max((float(np.max(np.abs(a), initial=0.0)) for a in floats), default=0.0)
    if largest <= 1.0:
        return tolerance
    return Tolerance(tolerance.rtol, tolerance.atol * largest, "normwise in the drawn inputs")


def copy_call(call, **changes):
    args = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in call.args.items()}
    args.update(changes)
    return Call(args, call.positional)


@cache
def grid(function):
    """The main grid of a function (normal values), simplest cases first, for shrinking."""
    spec = REGISTRY[function]
    cases = [c for c in generate(spec) if c.values == spec.values[0]]
    return sorted(cases, key=lambda c: (math.prod(c.shape), len(c.shape), len(c.options),
                                        spec.dtypes.index(c.dtype)))


def applicable(function, predicate):
    return any(predicate(c) for c in grid(function))


def reference_accepts(function, call):
    positional, keywords = call.split()
    try:
        harness._quiet(harness.reference_function(function), *positional, **keywords)
    except Exception:
        return False
    return True


@st.composite
def drawn_cases(draw, function, where=lambda case: True, vary_batch=True, redraw=True, value_classes=True):
    """A :class:`DrawnCase` of ``function``: a grid case satisfying ``where``, a value class,
    maybe another batch size, the free arrays redrawn."""
    spec = REGISTRY[function]
    case = draw(st.sampled_from([c for c in grid(function) if where(c)]))
    if value_classes:
        case = dataclasses.replace(case, values=draw(st.sampled_from(spec.values)))
    seed = draw(st.integers(0, 2**32 - 1))
    call = spec.sample(np.random.default_rng(seed), case)
    if vary_batch and len(case.shape) >= 2 and draw(st.booleans()):
        varied = dataclasses.replace(case, shape=(draw(st.integers(0, 5)),) + case.shape[1:])
        try:  # a layout whose first dimension is not free (ctc_loss's T) keeps the grid's shape
            if spec.valid(varied):
                case, call = varied, spec.sample(np.random.default_rng(seed), varied)
        except Exception:
            pass
    if redraw:
        for name, domain in free_arguments(function, case, call).items():
            call.args[name] = draw(values(call.args[name].shape, case.dtype, domain), label=name)
    assume(reference_accepts(function, call))  # a varied shape or a redrawn value the function rejects
    arrays = [v for v in call.args.values() if isinstance(v, np.ndarray) and np.issubdtype(v.dtype, np.floating)]
    limits = overflow_prone(case.dtype, arrays) or (case.dtype in LOW_PRECISION
                                                     and exp_overflows(function, case.dtype, call))
    flag = "extreme" if case.values == "extreme" or limits else "drawn"
    drawn = DrawnCase(case, call, seed, flag)
    note(f"case: {drawn.id}")
    return drawn


# --- running and judging -----------------------------------------------------------------


@cache
def _toml_divergences():
    return tuple(divergences.load())


def snippet(function, call, dtype, target_name="F"):
    """The call, pasteable after ``import torch, torch.nn.functional as F``."""
    return harness.describe_call(function, call, dtype, target_name)


def _without_rerun(message):
    return "\n".join(line for line in message.splitlines() if not line.startswith("rerun:"))


def check_differential(drawn, target, checks=("forward", "backward")):
    """The harness's forward and backward checks on a drawn case; failures as one message.
    A check of a known divergence (:data:`KNOWN_DIVERGENCES`, ``known_divergences/*.toml``)
    is not judged."""
    problems = []
    for check in checks:
        reason = known_divergence(check, drawn, target)
        if reason:
            event(f"{check}: known divergence: {reason[:60]}")
            continue
        outcome = {"forward": harness.check_forward, "backward": harness.check_backward}[check](drawn, target)
        if outcome.status == "failed":
            problems.append(f"{check}: {_without_rerun(outcome.message)}")
    return problems


def run_target(target, function, call, dtype):
    """The target's result as float64 NumPy (raises what the target raises)."""
    args, kwargs, _ = convert_call(call, dtype, "cpu")
    return to_numpy(harness._quiet(target.function(function), *args, **kwargs))


def run_reference(function, call):
    positional, keywords = call.split()
    return np.asarray(harness._quiet(harness.reference_function(function), *positional, **keywords),
                      dtype=np.float64)


def agree(actual, expected, dtype, spec, n_terms=1, magnitude=None, overflow_ok=False, what="output"):
    """``compare`` with the spec's tolerance for ``dtype``; ``magnitude`` (the sum of the
    absolute values of the terms) widens the absolute budget for results of cancellation."""
    tolerance = spec.tolerance(dtype) or TOLERANCES[dtype]
    expected = np.asarray(expected, dtype=np.float64)
    if magnitude is not None:
        finite = np.isfinite(expected)
        scale = max(np.max(np.abs(expected[finite]), initial=0.0), 1.0)
        if np.isfinite(magnitude) and magnitude > scale:
            tolerance = Tolerance(tolerance.rtol, tolerance.atol * magnitude / scale, "cancellation")
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


def _batch_size(call):
    first = next(iter(call.args.values()))
    return first.shape[0] if isinstance(first, np.ndarray) and first.ndim >= 1 else None


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


def class_index_case(case):
    """A batched case with class-index targets (where dropping targets means dropping rows)."""
    return len(case.shape) >= 2 and case.option("target").name in ("int64", "index")


@st.composite
def with_ignored_targets(draw, drawn):
    """``drawn`` with a drawn ``ignore_index`` and a drawn subset of its targets set to it."""
    call = drawn.call
    target = call.args["target"]
    n_classes = call.args["input"].shape[1]
    ignore = draw(st.sampled_from([-100, -1] + list(range(n_classes))), label="ignore_index")
    mask = draw(hnp.arrays(np.bool_, target.shape), label="ignored")
    valid = np.where((target >= 0) & (target < n_classes), target, 0)  # the grid's ignore_index is replaced
    call = copy_call(call, target=np.where(mask, ignore, valid).astype(target.dtype), ignore_index=ignore)
    return dataclasses.replace(drawn, call=call)


# --- known divergences of torch ------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class KnownDivergence:
    """Inputs on which torch legitimately or knowingly differs from the property.

    ``applies(drawn)`` says whether a drawn case falls in the divergence (it is then not
    judged); ``reproduce(target)`` runs a concrete reproducer and returns True while it still
    diverges, so a fix upstream makes ``test_known_divergence_still_diverges`` fail."""

    test: str
    function: str
    applies: object
    reproduce: object
    reason: str


def _empty_batch(drawn):
    x = drawn.call.args["input"]
    return x.ndim == 2 and x.shape[0] == 0


def _uninitialized_empty_output(function):
    def reproduce(target):
        import torch

        fn = target.function(function)
        x, t = torch.empty(0, 5), torch.empty((0,) if function == "multi_margin_loss" else (0, 5), dtype=torch.long)
        # Fresh memory holds the expected 0 now and then: any of a few runs shows the bug.
        return any(fn(x, t, reduction="sum").item() != 0.0 for _ in range(50))

    return reproduce


_EMPTY_BATCH = """an empty batch with reduction='sum' returns uninitialized memory on the CPU \
(0 in most runs, e.g. 5.7e-18 or 6.9e-310 in others) instead of 0: the kernel never writes the output \
when there is no sample (see known_divergences/margin.toml; 'mean' is a strict xfail there)."""

def _tiny_half_variance(drawn):
    var, eps = drawn.call.args["var"], drawn.call.args["eps"]
    return drawn.dtype == "float16" and float(np.min(np.maximum(var, eps), initial=np.inf)) < 1 / 65504


def _nan_gradient_of_tiny_variance(target):
    import torch

    x = torch.zeros(3, dtype=torch.float16, requires_grad=True)
    target.function("gaussian_nll_loss")(x, torch.zeros(3, dtype=torch.float16), 0.0).backward()
    return bool(torch.isnan(x.grad).any())


def _soft_margin_overflow(drawn):
    with np.errstate(invalid="ignore", over="ignore"):
        z = -drawn.call.args["target"] * drawn.call.args["input"]
        z = np.where(np.isnan(z), 0.0, z)  # z = +inf overflows exp too (inf / inf in the gradient)
        return bool(np.any(np.exp(z) > FORMATS[drawn.dtype].max)
                    or drawn.dtype in LOW_PRECISION and np.any(np.abs(z) >= 11))


def _soft_margin_reproduce(target):
    import torch

    return bool(torch.isinf(target.function("soft_margin_loss")(torch.tensor([-128.0]), torch.tensor([1.0]))))


def _poisson_eps_underflow(drawn):
    args = drawn.call.args
    return (drawn.dtype == "float16" and not args["log_input"] and args["eps"] < 2.0**-25
            and bool(np.any(args["input"] == 0)))


def _poisson_reproduce(target):
    import torch

    zero = torch.zeros((), dtype=torch.float16)
    return bool(torch.isnan(target.function("poisson_nll_loss")(zero, zero, log_input=False, eps=1e-8)))


def _poisson_inf_minus_inf(drawn):
    args = drawn.call.args
    if not args["log_input"]:
        return False
    with np.errstate(invalid="ignore", over="ignore"):
        x, t = np.broadcast_arrays(args["input"], args["target"])
        return bool(np.any(np.isinf(round_to(t * x, drawn.dtype)) & np.isinf(np.exp(np.minimum(x, 1e4)))))


def _poisson_inf_reproduce(target):
    import torch

    x = torch.tensor([3.3895313892515355e38], dtype=torch.bfloat16)
    return bool(torch.isnan(target.function("poisson_nll_loss")(x, torch.tensor(2.0, dtype=torch.bfloat16))))


def _float32_exp_overflow(drawn):
    return drawn.dtype == "float32" and exp_overflows(drawn.function, "float32", drawn.call)


def _kl_exp_reproduce(target):
    import torch

    x, t = torch.tensor([200.0, 0.0]), torch.tensor([100.0, 100.0])
    # exact: e**100 (100 - 200) + e**100 (100 - 0) = 0
    return bool(torch.isnan(target.function("kl_div")(x, t, reduction="sum", log_target=True)))


def _poisson_exp_reproduce(target):
    import torch

    loss = target.function("poisson_nll_loss")(torch.tensor([89.0, 0.0]), torch.zeros(2), reduction="mean")
    return bool(torch.isinf(loss))  # exact: (e**89 + 1) / 2 = 2.24e38, below float32's maximum


_FLOAT32_EXP = """torch exponentiates in the input dtype: in float32 exp(x) overflows above x = 88.7 \
(kl_div with log_target=True: exp(target), and exp(target) (target - input); poisson_nll_loss with \
log_input=True: exp(input)), giving inf where a mean or a sum with opposite terms is finite (and \
inf - inf = NaN). The harness accepts such intermediate overflows in float16 and bfloat16 only, where \
properties.py marks these inputs as at the format's limits. E.g. F.kl_div(torch.tensor([200., 0.]), \
torch.tensor([100., 100.]), reduction='sum', log_target=True) is NaN instead of 0, and \
F.poisson_nll_loss(torch.tensor([89., 0.]), torch.zeros(2)) is inf instead of 2.24e38."""


def _arrays(drawn, *names):
    return [np.asarray(drawn.call.args[name], dtype=np.float64) for name in names]


def _bce_half_certain(drawn):
    p, y = _arrays(drawn, "input", "target")
    p, y = np.broadcast_arrays(p, y)
    return drawn.dtype == "float16" and bool(np.any((p == y) & ((p == 0) | (p == 1))))


def _bce_half_certain_reproduce(target):
    import torch

    p = torch.zeros(1, dtype=torch.float16, requires_grad=True)
    target.function("binary_cross_entropy")(p, torch.zeros(1, dtype=torch.float16)).backward()
    return bool(torch.isnan(p.grad).any())


def _bce_subnormal_input(drawn):
    (p,) = _arrays(drawn, "input")
    return drawn.dtype != "float64" and bool(np.any((p > 0) & (p < FORMATS[drawn.dtype].tiny)))


def _bce_subnormal_reproduce(target):
    import torch

    p = torch.full((5,), 2.0**-24, dtype=torch.float16, requires_grad=True)
    loss = target.function("binary_cross_entropy")(p, torch.zeros(5, dtype=torch.float16))
    (grad,) = torch.autograd.grad(loss, p, torch.tensor(0.2059326171875, dtype=torch.float16))
    return bool(torch.any(grad == 0))  # exact: 0.2059 / 5 / (1 - p) = 0.0412


def _infinite_logit(drawn):
    return bool(np.any(np.isinf(drawn.call.args["input"])))


def _infinite_logit_reproduce(target):
    import torch

    loss = target.function("binary_cross_entropy_with_logits")(torch.tensor([-math.inf]), torch.tensor([0.0]))
    return bool(torch.isnan(loss))


def _multilabel_infinite_logit(drawn):
    x, y = _arrays(drawn, "input", "target")
    x, y = np.broadcast_arrays(x, y)
    return bool(np.any((x == math.inf) & (y == 1) | (x == -math.inf) & (y == 0)))


def _multilabel_infinite_logit_reproduce(target):
    import torch

    loss = target.function("multilabel_soft_margin_loss")(torch.tensor([[math.inf]]), torch.tensor([[1.0]]))
    return bool(torch.isnan(loss))


def _cosine_half_norms(drawn):
    """float16 rows whose squared norms, or their product, leave float16's normal range."""
    if drawn.dtype != "float16":
        return False
    a, b = _arrays(drawn, "input1", "input2")
    with np.errstate(invalid="ignore", over="ignore"):
        s1, s2 = np.sum(a * a, axis=-1), np.sum(b * b, axis=-1)
        fmt = FORMATS["float16"]
        out = [s < fmt.tiny for s in (s1, s2, s1 * s2)] + [s > fmt.max for s in (s1, s2, s1 * s2)]
    return bool(np.any(np.logical_or.reduce(np.broadcast_arrays(*out))))


def _cosine_half_reproduce(target):
    import torch

    zero, one = torch.zeros(1, 2, dtype=torch.float16), torch.tensor([[1.0, 0.0]], dtype=torch.float16)
    a = torch.tensor([[20.0, 0.0]], dtype=torch.float16)
    fn, y = target.function("cosine_embedding_loss"), torch.tensor([1.0])
    return bool(torch.isnan(fn(zero, one, y))) and fn(a, a, y).item() == 1.0  # exact: NaN -> 0 (cos 0), 0


def _kl_subnormal_target(drawn):
    args = drawn.call.args
    if drawn.dtype == "float64" or args["log_target"]:
        return False
    t = np.asarray(args["target"], dtype=np.float64)
    return bool(np.any((t > 0) & (t < FORMATS[drawn.dtype].tiny)))


def _kl_subnormal_reproduce(target):
    import torch

    t = torch.tensor([4.76837158203125e-07], dtype=torch.float16, requires_grad=True)
    g = 0.2059326171875
    loss = target.function("kl_div")(torch.zeros(1, dtype=torch.float16), t, reduction="sum")
    (grad,) = torch.autograd.grad(loss, t, torch.tensor(g, dtype=torch.float16))
    exact = g * (math.log(t.item()) + 1)
    return abs(grad.item() - exact) > 2 * 2.0**-8 * abs(exact)  # twice the float16 budget (1.6% now)


def _mean_over_one_weight(drawn):
    args = drawn.call.args
    weight = args.get("weight")
    return (drawn.dtype in LOW_PRECISION and args.get("reduction", "mean") == "mean"
            and isinstance(weight, np.ndarray) and weight.size == 1)


def _mean_over_one_weight_reproduce(function):
    def reproduce(target):
        import torch

        w = torch.tensor(0.71630859375, dtype=torch.float16, requires_grad=True)
        x, t = torch.tensor(2.0, dtype=torch.float16), torch.tensor([-2.0], dtype=torch.float16)
        with warnings.catch_warnings():  # the broadcast of () against (1,) is the point
            warnings.simplefilter("ignore")
            loss = target.function(function)(x, t, reduction="mean", weight=w)
        (grad,) = torch.autograd.grad(loss, w, torch.tensor(1.06640625, dtype=torch.float16))
        return grad.item() != 0.0

    return reproduce


_CANCELLATION = """accuracy: an exact 0 from cancellation cannot be held to a budget relative to the \
result. With reduction='mean' and a weight of one element, the loss sum(w l) / sum(w) does not depend \
on w: its weight gradient is exactly 0, which torch forms as the difference of two terms of size l / w, \
leaving their rounding in the input dtype (float16: 0.0156 for l = 16, w = 0.716); float64 agrees."""


def _triplet_half_tiny_distance(drawn):
    """float16, finite p > 2, and a distance d with d**(p - 1) below float16's smallest normal."""
    args = drawn.call.args
    p = args["p"]
    if drawn.dtype != "float16" or not 2 < p < math.inf:
        return False
    a, pos, neg = _arrays(drawn, "anchor", "positive", "negative")
    pairs = [(a, pos), (a, neg)] + ([(pos, neg)] if args["swap"] else [])
    with np.errstate(invalid="ignore", over="ignore"):
        distances = [np.sum(np.abs(x - y + args["eps"]) ** p, axis=-1) ** (1 / p) for x, y in pairs]
        return any(bool(np.any(d ** (p - 1) < FORMATS["float16"].tiny)) for d in distances)


def _triplet_half_reproduce(target):
    import torch

    z = torch.zeros(1, 4, dtype=torch.float16, requires_grad=True)
    loss = target.function("triplet_margin_loss")(z, z.detach(), z.detach(), p=3)
    (grad,) = torch.autograd.grad(loss, z)
    return bool(torch.isnan(grad).any())


def _triplet_distance(drawn):
    """The drawn case's distance ``d(x1, x2)``, evaluated in float64."""
    import reference

    args = drawn.call.args
    if drawn.function == "triplet_margin_loss":
        return lambda x1, x2: reference.pairwise_distance(x1, x2, args["p"], args["eps"])
    return args.get("distance_function") or reference.pairwise_distance


def _triplet_near_kink(drawn):
    """Below float64, a triplet whose hinge ``margin + d(a, p) - d_-`` or, with swap, whose
    minimum ``min(d(a, n), d(p, n))``, or with p = inf the maximum of a difference's
    elements, sits within the case dtype's rounding of its kink (exactly on it included:
    the rounded inputs and eps need not keep an exact tie)."""
    if drawn.dtype == "float64":
        return False
    args = drawn.call.args
    a, pos, neg = _arrays(drawn, "anchor", "positive", "negative")
    distance = _triplet_distance(drawn)
    with np.errstate(all="ignore"):
        d_ap, d_an = np.asarray(distance(a, pos), np.float64), np.asarray(distance(a, neg), np.float64)
        d_pn = np.asarray(distance(pos, neg), np.float64) if args["swap"] else d_an
        d_neg = np.minimum(d_an, d_pn)
        close = 16 * FORMATS[drawn.dtype].unit_roundoff * (args["margin"] + np.abs(d_ap) + np.abs(d_neg))
        near = np.abs(args["margin"] + d_ap - d_neg) <= close
        if args["swap"]:
            near |= np.abs(d_an - d_pn) <= close
        if drawn.function == "triplet_margin_loss" and args["p"] == math.inf:
            # the max-norm's gradient goes to its largest elements: two within rounding tie
            for x, y in [(a, pos), (a, neg)] + ([(pos, neg)] if args["swap"] else []):
                v = np.abs(x - y + args["eps"])
                top = np.max(v, axis=-1, initial=0.0, keepdims=True)
                near |= np.sum(v >= top * (1 - 16 * FORMATS[drawn.dtype].unit_roundoff), axis=-1) > 1
    return bool(np.any(near))


def _triplet_tie_reproduce(function):
    def reproduce(target):
        import torch

        import reference

        a, p, n = np.zeros((1, 4)), np.array([[2.0, 0.0, 0.0, 0.0]]), np.ones((1, 4))
        options = {"p": 3} if function == "triplet_margin_loss" else {}  # the other: p = 2 (its default)
        backward = getattr(reference, f"{function}_backward")
        expected = backward(np.float64(1.0), a, p, n, swap=True, **options)["anchor"]
        anchor, positive, negative = (torch.tensor(x, dtype=torch.float16, requires_grad=True) for x in (a, p, n))
        loss = target.function(function)(anchor, positive, negative, swap=True, **options)
        (grad,) = torch.autograd.grad(loss, anchor)
        return bool(np.max(np.abs(grad.double().numpy() - expected)) > 0.1)  # 0.2 or 0.25 off (a 0.5/0.5 split)

    return reproduce


_TRIPLET_KINK = """accuracy: a triplet within rounding of a kink of the loss, the hinge \
margin + d(a, p) - d_- = 0 or (swap) the minimum d(a, n) = d(p, n), takes its gradient from whichever \
side the case dtype's rounding lands on: eps = 1e-6 rounds away in float16, so d(a, n) and d(p, n), \
which eps separates exactly, tie in torch (the minimum splits its gradient 0.5/0.5) where the reference \
takes one branch (and with p = inf, elements of a difference that eps separates tie for the maximum). \
E.g. F.triplet_margin_loss(a, p, n, p=3, swap=True) with a = 0, p = [2, 0, 0, 0], \
n = [1, 1, 1, 1] (float16, shape (1, 4)): the anchor gradient is [-0.801, 0.199, 0.199, 0.199] \
instead of [-0.603, 0.397, 0.397, 0.397] (triplet_margin_with_distance_loss, p = 2: [-0.75, 0.25, 0.25, \
0.25] instead of [-0.5, 0.5, 0.5, 0.5])."""


def _cosine_distance_out_of_range(drawn):
    """The cosine distance with a squared row norm, or the product of two, outside the case
    dtype's normal range (the user-supplied distance computes them in that dtype)."""
    from .specs.triplet import COSINE

    args = drawn.call.args
    if args.get("distance_function") is not COSINE:
        return False
    fmt = FORMATS[drawn.dtype]
    rows = _arrays(drawn, "anchor", "positive", "negative")
    with np.errstate(all="ignore"):
        squares = [np.sum(x * x, axis=-1) for x in rows]
        products = [x * y for i, x in enumerate(squares) for y in squares[i + 1:]]
        return any(bool(np.any((s < fmt.tiny) | (s > fmt.max))) for s in squares + products)


def _cosine_distance_reproduce(target):
    import torch

    from .specs.triplet import COSINE

    x = torch.full((1, 4), 6.8e-21, requires_grad=True)
    one = torch.ones(1, 4)
    loss = target.function("triplet_margin_with_distance_loss")(one, x, 2 * one, distance_function=COSINE)
    (grad,) = torch.autograd.grad(loss, x)
    return not bool(torch.isfinite(grad).all())  # exact: 0 (x is parallel to the anchor: d(a, x) = 0 is least)


_COSINE_DISTANCE = """the test's own cosine distance (specs/triplet.py COSINE), a user-supplied \
distance_function, computes the squared row norms and their product in the case dtype: below the \
smallest normal they lose precision or underflow to 0 (a gradient of inf or NaN), above the maximum \
they overflow (a distance of 1), where the reference evaluates the same formula in float64. E.g. \
anchor = 1, positive = 6.8e-21, negative = 2 in every element (float32, the squared norm of positive \
is 1.8e-40) gives an inf gradient of positive where the exact one is 0."""


def _cosine_empty_broadcast(drawn):
    """One input of an empty batch broadcast against a one-row input holding inf or NaN."""
    x1, x2 = _arrays(drawn, "input1", "input2")
    if x1.ndim != 2 or x2.ndim != 2 or (x1.shape[0] == 0) == (x2.shape[0] == 0):
        return False
    full = x2 if x1.shape[0] == 0 else x1
    return not bool(np.all(np.isfinite(full)))


def _cosine_empty_reproduce(target):
    import torch

    x1 = torch.empty(0, 5, dtype=torch.float64, requires_grad=True)
    x2 = torch.full((1, 5), math.nan, dtype=torch.float64, requires_grad=True)
    loss = target.function("cosine_embedding_loss")(x1, x2, torch.empty(0, dtype=torch.float64), reduction="sum")
    (grad,) = torch.autograd.grad(loss, x2)
    return bool(torch.isnan(grad).any())  # exact: 0, the sum over no sample


_COSINE_EMPTY = """an input of one row broadcast against an empty batch (input1 (0, D), input2 (1, D)) \
gets the gradient 0 of the empty sum times its own values: 0 * NaN and 0 * inf give NaN where \
the gradient of a loss over no sample is 0 (torch forms the squared norm of the one row, 2 x * 0). E.g. \
F.cosine_embedding_loss(torch.empty(0, 5), torch.full((1, 5), nan), torch.empty(0), reduction='sum'): \
the gradient of input2 is NaN."""


KNOWN_DIVERGENCES = [
    KnownDivergence("any", "poisson_nll_loss", _poisson_inf_minus_inf, _poisson_inf_reproduce,
                    """with log_input=True, exp(input) - target * input is evaluated in the input dtype: \
where both terms overflow it is inf - inf = NaN, where the exact loss is +inf (exp dominates). E.g. \
input = bfloat16 max, target = 2."""),
    KnownDivergence("any", "soft_margin_loss", _soft_margin_overflow, _soft_margin_reproduce,
                    """torch evaluates log(1 + exp(-y x)) literally: exp overflows (y x below about -88.7 \
in float32, -11.1 in float16), giving inf and a NaN gradient where the exact values are -y x and -y \
(known_divergences/binary.toml, values=overflow). E.g. F.soft_margin_loss(torch.tensor([-128.]), \
torch.tensor([1.])) is inf instead of 128."""),
    KnownDivergence("any", "poisson_nll_loss", _poisson_eps_underflow, _poisson_reproduce,
                    """in float16 with log_input=False, torch adds eps in float16: an eps below 2**-25 \
(the default 1e-8) rounds away, so an input of 0 gives log(0) = -inf and a loss of 0 * -inf = NaN \
(target 0) or inf (target > 0) where the reference, adding eps exactly, gives 0 or -target * log(eps). \
E.g. F.poisson_nll_loss(z, z, log_input=False) with z = torch.zeros((), dtype=torch.float16) is NaN."""),
] + [
    KnownDivergence("any", function, _empty_batch, _uninitialized_empty_output(function), _EMPTY_BATCH)
    for function in ("multi_margin_loss", "multilabel_margin_loss")
] + [
    KnownDivergence("backward", "gaussian_nll_loss", _tiny_half_variance, _nan_gradient_of_tiny_variance,
                    """in float16 the gradient of the input is NaN instead of 0 where input == target and \
the (eps-clamped) variance is below 1/65504: autograd forms 1/var, which overflows float16 to inf, \
and multiplies it by input - target = 0. E.g. F.gaussian_nll_loss(x, x.detach(), 0.0) with \
x = torch.zeros(3, dtype=torch.float16, requires_grad=True)."""),
    KnownDivergence("backward", "binary_cross_entropy", _bce_half_certain, _bce_half_certain_reproduce,
                    """in float16 the input gradient's clamp max(p (1 - p), 1e-12) is computed in float16, \
where 1e-12 underflows to 0: at p = y = 0 or p = y = 1 the gradient is 0 / 0 = NaN instead of 0 \
(known_divergences/binary.toml, values=bounds). E.g. the gradient of \
F.binary_cross_entropy(p, torch.zeros(1, dtype=torch.float16)) at p = torch.zeros(1, dtype=torch.float16)."""),
    KnownDivergence("backward", "binary_cross_entropy", _bce_subnormal_input, _bce_subnormal_reproduce,
                    """accuracy: torch forms the input gradient as g (p - y) / max(p (1 - p), eps) in the \
input dtype, multiplying before it divides: for a subnormal input p (and y = 0) the product g p keeps \
few bits or underflows to 0. E.g. p = 2**-24 (5 elements, float16), y = 0, 'mean', g = 0.206: the \
gradient is 0 instead of 0.0412."""),
    KnownDivergence("forward", "binary_cross_entropy_with_logits", _infinite_logit, _infinite_logit_reproduce,
                    """an infinite logit gives NaN where the documented loss has a limit (x = -inf: inf, or \
0 for y = 0; x = +inf, y = 1: 0): torch computes (1 - y) x - (1 + (r - 1) y) logsigmoid(x), i.e. \
inf - inf and 0 * inf (pytorch/pytorch#102894, known_divergences/binary.toml). The gradients are \
finite and agree. E.g. F.binary_cross_entropy_with_logits(torch.tensor([-inf]), torch.tensor([0.])) is NaN."""),
    KnownDivergence("forward", "multilabel_soft_margin_loss", _multilabel_infinite_logit,
                    _multilabel_infinite_logit_reproduce,
                    """an infinite logit on the correct side (x = +inf, y = 1 or x = -inf, y = 0) gives NaN \
where the documented loss has the limit 0: y logsigmoid(x) + (1 - y) logsigmoid(-x) is 0 * -inf there \
(pytorch/pytorch#102894, known_divergences/binary.toml). E.g. \
F.multilabel_soft_margin_loss(torch.tensor([[inf]]), torch.tensor([[1.]])) is NaN."""),
    KnownDivergence("backward", "multilabel_soft_margin_loss",
                    lambda drawn: drawn.call.args.get("weight") is not None and _multilabel_infinite_logit(drawn),
                    _multilabel_infinite_logit_reproduce,
                    """as the forward: the gradient with respect to weight is the elementwise loss, NaN \
where torch's forward is NaN (known_divergences/binary.toml)."""),
    KnownDivergence("any", "cosine_embedding_loss", _cosine_half_norms, _cosine_half_reproduce,
                    """in float16 torch forms the squared norms, the 1e-12 epsilon and their product in \
float16: the epsilon rounds to 0, so a zero vector gives the cosine 0 / 0 = NaN instead of 0, squared \
norms or products below the smallest normal (2**-14) lose their precision or underflow (NaN, inf), and \
the product overflows once |a| |b| > 256 (a = b = [20, 0] gives a loss of 1 instead of 0 for y = 1; \
known_divergences/margin.toml)."""),
    KnownDivergence("backward", "kl_div", _kl_subnormal_target, _kl_subnormal_reproduce,
                    """accuracy: torch differentiates xlogy(t, t) op by op in the input dtype, and the term \
of the second argument, (g t) / t, passes through g t, which is subnormal (few significant bits) for a \
subnormal target t: the target gradient g (log t + 1 - x) is off by up to ~25 ulp in float16 (~60 ulp \
in float32, t = 5.7e-42). E.g. t = 4.77e-7, x = 0, g = 0.206 (float16) gives -2.748 instead of -2.7916."""),
] + [
    KnownDivergence("backward", function, _mean_over_one_weight, _mean_over_one_weight_reproduce(function),
                    _CANCELLATION)
    for function in ("mse_loss", "l1_loss")
] + [
    KnownDivergence("backward", "triplet_margin_loss", _triplet_half_tiny_distance, _triplet_half_reproduce,
                    """accuracy: for p > 2 torch's p-norm gradient x |x|**(p - 2) / d**(p - 1) is formed in \
float16, where d**(p - 1) of a distance near eps (1e-6) underflows: 0 / 0 = NaN (or inf) instead of a \
finite gradient. E.g. the anchor gradient of F.triplet_margin_loss(z, z, z, p=3) with \
z = torch.zeros(1, 4, dtype=torch.float16) is NaN."""),
    KnownDivergence("any", "kl_div", _float32_exp_overflow, _kl_exp_reproduce, _FLOAT32_EXP),
    KnownDivergence("any", "poisson_nll_loss", _float32_exp_overflow, _poisson_exp_reproduce, _FLOAT32_EXP),
] + [
    KnownDivergence("backward", function, _triplet_near_kink, _triplet_tie_reproduce(function), _TRIPLET_KINK)
    for function in ("triplet_margin_loss", "triplet_margin_with_distance_loss")
] + [
    KnownDivergence("any", "triplet_margin_with_distance_loss", _cosine_distance_out_of_range,
                    _cosine_distance_reproduce, _COSINE_DISTANCE),
    KnownDivergence("backward", "cosine_embedding_loss", _cosine_empty_broadcast, _cosine_empty_reproduce,
                    _COSINE_EMPTY),
]


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


def known_divergence(test, drawn, target):
    """Why ``drawn`` is a known divergence of torch for ``test``, or "" (it is then judged).
    The metamorphic tests skip inputs whose forward diverges, under any reduction they run."""
    if not target.is_torch:
        return ""
    differential = test in ("forward", "backward")
    tests = (test, "any") if differential else (test, "any", "forward")
    for entry in KNOWN_DIVERGENCES:
        if entry.test in tests and entry.function == drawn.function and entry.applies(drawn):
            return entry.reason
    ids = [drawn.id] if differential else _reduction_ids(drawn)
    for entry in _toml_divergences():
        if any(entry.applies(test if differential else "forward", case_id) for case_id in ids):
            return entry.explanation
    return ""
