"""What the property search draws: the Hypothesis profiles, which arrays of a call are
redrawn and from which domain, the values, and the drawn cases.

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
from functools import cache

import numpy as np
from hypothesis import HealthCheck, assume, note, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from .. import harness
from ..cases import Case, generate
from ..compare import TOLERANCES
from ..domains import LOW_PRECISION, exp_overflows, overflow_prone
from ..dtypes import FORMATS, round_to
from ..guard import quiet
from ..registry import REGISTRY, Call

# --- profiles ----------------------------------------------------------------------------

SUPPRESSED_HEALTH_CHECKS = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much,
                            HealthCheck.large_base_example, HealthCheck.function_scoped_fixture]
settings.register_profile("quick", max_examples=3, deadline=None, derandomize=True, database=None,
                          suppress_health_check=SUPPRESSED_HEALTH_CHECKS, print_blob=True)
settings.register_profile("thorough", max_examples=150, deadline=None,
                          suppress_health_check=SUPPRESSED_HEALTH_CHECKS, print_blob=True)
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

def huge_limit(dtype):
    """The largest magnitude drawn: the format's maximum where the overflow rule applies."""
    fmt = FORMATS[dtype]
    return fmt.max if dtype in LOW_PRECISION else fmt.max**0.25 / 16


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


# The normwise floor of a drawn case is at least 1: drawn values span many magnitudes, and a result
# that cancels is judged against its inputs' scale, not its own (the grid holds each tensor to its own).
DRAWN_FLOOR = 1.0


def normwise_tolerance(spec, drawn):
    """The spec's tolerance with a normwise floor of at least :data:`DRAWN_FLOOR`, and in float32
    and below at least the largest finite input: drawn inputs far larger than the result (a
    margin of 1 against distances of 256 in bfloat16) leave errors of the inputs' size, not the
    result's."""
    tolerance = spec.tolerance(drawn.dtype) or TOLERANCES[drawn.dtype]
    floor = max(tolerance.floor, DRAWN_FLOOR)
    if drawn.dtype != "float64":
        floats = [a[np.isfinite(a)] for a in drawn.call.args.values()
                  if isinstance(a, np.ndarray) and np.issubdtype(a.dtype, np.floating)]
        floor = max([floor] + [float(np.max(np.abs(a), initial=0.0)) for a in floats])
    return dataclasses.replace(tolerance, reason="normwise in the drawn inputs", floor=floor)  # systematic kept


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


def reference_accepts(function, call):
    positional, keywords = call.split()
    try:
        quiet(harness.reference_function(function), *positional, **keywords)
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

