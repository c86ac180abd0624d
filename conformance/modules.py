"""The ``torch.nn`` loss modules, checked against the reference through their functionals.

Each ``nn.*Loss`` module is a thin wrapper: its constructor stores options (and registers
``weight`` / ``pos_weight`` as buffers) and its ``forward`` calls the functional. The table
:data:`MODULES` says, per module, which functional it wraps and where each of the
functional's arguments goes: into the constructor as a plain option, into the constructor
as a registered buffer, into ``forward``, or nowhere (functional-only arguments, whose
cases the module cannot express). A registry case's :class:`~conformance.registry.Call`
is split along that table, the module is built and called, and its result and gradients
are compared with the reference exactly as :mod:`conformance.harness` compares the
functional's (same tolerances, same growth rule, same overflow policy).

The module's cases are a small deterministic sample of the registry's float64 and
float32 cases (:func:`sample`): every option value, shape and value class at least once,
then every k-th case up to a fixed count per dtype.
"""

import inspect
from dataclasses import dataclass

import torch

from . import domains, guard, ids
from .adapters import Failure, TorchAdapter
from .cases import generate
from .compare import compare
from .harness import (
    Outcome,
    compare_gradients,
    differentiable_args,
    judged,
    overflow_ok,
    read_gradients,
    reference_function,
    terms,
)
from .reproducers import literal, small
from .tensors import convert_call, to_numpy

LEGACY = ("size_average", "reduce")  # deprecated; tested on their own in test_legacy.py


@dataclass(frozen=True)
class ModuleSpec:
    """Where each argument of ``function`` goes when ``torch.nn.<module>`` computes it.

    ``options``: constructor arguments that are plain attributes; ``buffers``: constructor
    tensors the module registers as buffers; ``forward``: the functional's arguments passed
    positionally to ``forward``, in its order (the names may differ: ``PoissonNLLLoss.forward``
    calls its first argument ``log_input``); ``functional_only``: arguments only the
    functional takes, so cases that set them are not the module's.
    """

    module: str
    function: str
    forward: tuple
    options: tuple = ()
    buffers: tuple = ()
    functional_only: tuple = ()

    @property
    def cls(self):
        return getattr(torch.nn, self.module, None)

    def constructor_arguments(self):
        return self.options + self.buffers


MODULES = (
    ModuleSpec("CrossEntropyLoss", "cross_entropy", ("input", "target"),
               ("ignore_index", "reduction", "label_smoothing"), ("weight",)),
    ModuleSpec("NLLLoss", "nll_loss", ("input", "target"), ("ignore_index", "reduction"), ("weight",)),
    # Deprecated alias of NLLLoss (a FutureWarning in the constructor), still exported.
    ModuleSpec("NLLLoss2d", "nll_loss", ("input", "target"), ("ignore_index", "reduction"), ("weight",)),
    ModuleSpec("BCELoss", "binary_cross_entropy", ("input", "target"), ("reduction",), ("weight",)),
    ModuleSpec("BCEWithLogitsLoss", "binary_cross_entropy_with_logits", ("input", "target"), ("reduction",),
               ("weight", "pos_weight")),
    # The functionals' newer elementwise ``weight`` has no place in these modules.
    ModuleSpec("MSELoss", "mse_loss", ("input", "target"), ("reduction",), functional_only=("weight",)),
    ModuleSpec("L1Loss", "l1_loss", ("input", "target"), ("reduction",), functional_only=("weight",)),
    ModuleSpec("SmoothL1Loss", "smooth_l1_loss", ("input", "target"), ("reduction", "beta")),
    ModuleSpec("HuberLoss", "huber_loss", ("input", "target"), ("reduction", "delta"), functional_only=("weight",)),
    ModuleSpec("KLDivLoss", "kl_div", ("input", "target"), ("reduction", "log_target")),
    ModuleSpec("PoissonNLLLoss", "poisson_nll_loss", ("input", "target"), ("log_input", "full", "eps", "reduction")),
    # ``var`` is data, so a forward argument, not a constructor option.
    ModuleSpec("GaussianNLLLoss", "gaussian_nll_loss", ("input", "target", "var"), ("full", "eps", "reduction")),
    ModuleSpec("SoftMarginLoss", "soft_margin_loss", ("input", "target"), ("reduction",)),
    ModuleSpec("MultiLabelSoftMarginLoss", "multilabel_soft_margin_loss", ("input", "target"), ("reduction",),
               ("weight",)),
    ModuleSpec("MultiLabelMarginLoss", "multilabel_margin_loss", ("input", "target"), ("reduction",)),
    ModuleSpec("MultiMarginLoss", "multi_margin_loss", ("input", "target"), ("p", "margin", "reduction"),
               ("weight",)),
    ModuleSpec("HingeEmbeddingLoss", "hinge_embedding_loss", ("input", "target"), ("margin", "reduction")),
    ModuleSpec("CosineEmbeddingLoss", "cosine_embedding_loss", ("input1", "input2", "target"),
               ("margin", "reduction")),
    ModuleSpec("MarginRankingLoss", "margin_ranking_loss", ("input1", "input2", "target"), ("margin", "reduction")),
    ModuleSpec("TripletMarginLoss", "triplet_margin_loss", ("anchor", "positive", "negative"),
               ("margin", "p", "eps", "swap", "reduction")),
    ModuleSpec("TripletMarginWithDistanceLoss", "triplet_margin_with_distance_loss",
               ("anchor", "positive", "negative"), ("distance_function", "margin", "swap", "reduction")),
    # The lengths are per-batch data, so forward arguments.
    ModuleSpec("CTCLoss", "ctc_loss", ("log_probs", "targets", "input_lengths", "target_lengths"),
               ("blank", "reduction", "zero_infinity")),
)

BY_MODULE = {m.module: m for m in MODULES}

OUT_OF_SCOPE = {
    "LinearCrossEntropyLoss": "a fused Linear layer plus cross-entropy with its own parameters; its functional "
                              "(linear_cross_entropy) is not a loss of (input, target) in the registry",
    "AdaptiveLogSoftmaxWithLoss": "a model layer with its own parameters that returns (output, loss), "
                                  "not a loss of (input, target)",
}


def discover():
    """Names of the loss modules this torch has: subclasses of ``torch.nn.modules.loss._Loss``
    there, plus every public ``torch.nn`` class whose name ends with ``Loss``."""
    loss = torch.nn.modules.loss
    names = {name for name, obj in vars(loss).items()
             if inspect.isclass(obj) and issubclass(obj, loss._Loss) and not name.startswith("_")}
    names |= {name for name, obj in vars(torch.nn).items()
              if inspect.isclass(obj) and name.endswith("Loss") and not name.startswith("_")}
    return names


# -- the sample -------------------------------------------------------------------------

DTYPES = ("float64", "float32")
PER_DTYPE = 3  # cases per dtype beyond those needed to cover every option value


def expressible(module_spec, call):
    """Whether the module can make this call (no functional-only argument is set)."""
    return all(call.args.get(name) is None for name in module_spec.functional_only)


def _coverage(case):
    keys = {("dtype", case.dtype), ("shape", case.shape), ("values", case.values)}
    return keys | {(name, repr(case.option(name))) for name in case.spec.options}


def sample(module_spec, spec, per_dtype=PER_DTYPE, skip=lambda case: False):
    """A deterministic sample of ``spec``'s cases the module can express: first every case
    (in grid order) that covers a dtype, option value, shape or value class not yet
    covered, then every k-th remaining case, ``per_dtype`` of them per dtype."""
    chosen, covered = {}, set()
    pool = [c for c in generate(spec, DTYPES) if not skip(c)]
    usable = []
    for case in pool:
        if module_spec.functional_only and not expressible(module_spec, spec.sample(case.rng(), case)):
            continue
        usable.append(case)
        keys = _coverage(case)
        if keys - covered:
            chosen[case.id] = case
            covered |= keys
    for dtype in DTYPES:
        rest = [c for c in usable if c.dtype == dtype and c.id not in chosen]
        step = max(len(rest) // per_dtype, 1)
        for case in rest[::step][:per_dtype]:
            chosen[case.id] = case
    return list(chosen.values())


@dataclass(frozen=True)
class ModuleCase:
    """A registry case run through a module; its id reads ``Module <- function(...)``."""

    module_spec: ModuleSpec
    case: object

    @property
    def id(self):
        return f"{self.module_spec.module} <- {self.case.id}"

    def __str__(self):
        return self.id


# -- building and calling a module ------------------------------------------------------


def split(module_spec, call, dtype, device, grad_args=()):
    """``(constructor kwargs, forward args, leaves)`` for ``call``."""
    args, kwargs, leaves = convert_call(call, dtype, device, grad_args)
    converted = dict(zip(call.args, list(args) + list(kwargs.values()), strict=True))
    unknown = set(converted) - set(module_spec.forward + module_spec.constructor_arguments()
                                   + module_spec.functional_only)
    if unknown:
        raise KeyError(f"{module_spec.module}: the table does not place argument(s) {sorted(unknown)}")
    constructor = {n: converted[n] for n in module_spec.constructor_arguments() if n in converted}
    forward = [converted[n] for n in module_spec.forward]
    return constructor, forward, leaves


def describe(module_spec, call, dtype):
    """The module call as Python source, tensors inline."""
    constructor = ", ".join(f"{n}={literal(call.args[n], dtype)}" for n in module_spec.constructor_arguments()
                            if n in call.args)
    forward = ", ".join(literal(call.args[n], dtype) for n in module_spec.forward)
    return f"torch.nn.{module_spec.module}({constructor})({forward})"


def reproduction(module_case, call, test):
    """The ``call:`` and ``rerun:`` lines of a module check (the module call inline when it is small)."""
    case = module_case.case
    text = describe(module_case.module_spec, call, case.dtype) if small(call) else f"the module on {case.id}"
    rerun = ids.rerun(ids.node(f"module_{test}", module_case.id, module="test_modules"))
    return f"call: {text}\nrerun: {rerun}"


def _fail(problems, module_case, call, test):
    return "\n".join(problems) + "\n" + reproduction(module_case, call, test)


def _call_module(module_spec, constructor, forward):
    try:  # the module is the target: its calls put back the global state they change (conformance/guard.py)
        module = guard.in_target(module_spec.cls, **constructor)
        return module, guard.in_target(module, *forward), None
    except Exception as exc:
        return None, None, f"raised {type(exc).__name__}: {exc}"


def _judged(check, test):
    """``check`` as one case: global state the module changes fails it and is put back, as every
    other check (:func:`conformance.harness.judged`)."""

    def run(module_case):
        case = module_case.case
        return judged(lambda: check(module_case), module_case.id,
                      lambda: reproduction(module_case, case.spec.sample(case.rng(), case), test))

    run.__name__, run.__doc__ = check.__name__.lstrip("_"), check.__doc__
    return run


def _check_module_forward(module_case):
    """The module's value, dtype and device against the reference's value of the functional call."""
    module_spec, case = module_case.module_spec, module_case.case
    spec = case.spec
    call = spec.sample(case.rng(), case)
    positional, keywords = call.split()
    expected = guard.quiet(reference_function(spec.name), *positional, **keywords)
    constructor, forward, _ = split(module_spec, call, case.dtype, case.device)
    _, out, error = _call_module(module_spec, constructor, forward)
    if error:
        return Outcome("failed", _fail([error], module_case, call, "forward"))
    problems = TorchAdapter(case.device).result_problems(out, case.dtype)
    result = None
    if isinstance(out, torch.Tensor):
        result = compare(to_numpy(out), expected, case.dtype, spec.tolerance(case.dtype), terms=terms(call),
                         overflow_ok=overflow_ok(case))
        if not result.ok:
            problems.append(result.message)
    if problems:
        return Outcome("failed", _fail(problems, module_case, call, "forward"))
    return Outcome("passed", "", result.max_ulp, result.max_rel)


def _check_module_backward(module_case):
    """Gradients of every differentiable argument (forward arguments and buffers alike)
    under a random ``grad_output``, against the reference's ``f_backward``."""
    module_spec, case = module_case.module_spec, module_case.case
    spec = case.spec
    call = spec.sample(case.rng(), case)
    grad_args = differentiable_args(spec, call)
    if not grad_args:
        return Outcome("skipped", "no differentiable argument in this case")
    constructor, forward, leaves = split(module_spec, call, case.dtype, case.device, grad_args)
    module, out, error = _call_module(module_spec, constructor, forward)
    if error:
        return Outcome("failed", _fail([error], module_case, call, "backward"))
    adapter = TorchAdapter(case.device)
    problems = adapter.result_problems(out, case.dtype)
    for name in module_spec.buffers:
        if name in leaves and getattr(module, name) is not leaves[name]:
            problems.append(f"buffer {name!r} is a copy of the tensor passed in: its gradient cannot flow back")
    if problems:
        return Outcome("failed", _fail(problems, module_case, call, "backward"))
    grad_output = domains.grad_output(case.rng(1), tuple(out.shape), case.dtype)
    try:
        grads = guard.in_target(adapter.gradients, None, (), leaves, tuple(leaves),
                           adapter.asarray(grad_output, case.dtype), out)
    except Failure as exc:
        return Outcome("failed", _fail([str(exc)], module_case, call, "backward"))
    except Exception as exc:
        return Outcome("failed", _fail([f"backward raised {type(exc).__name__}: {exc}"], module_case, call,
                                       "backward"))
    positional, keywords = call.split()
    expected = guard.quiet(reference_function(case.function, backward=True), grad_output, *positional, **keywords)
    actual = read_gradients(adapter, call, grads, tuple(leaves), case.dtype, problems)
    worst_ulp, worst_rel, _ = compare_gradients(case, call, actual, expected, problems)
    if problems:
        return Outcome("failed", _fail(problems, module_case, call, "backward"), worst_ulp, worst_rel)
    return Outcome("passed", "", worst_ulp, worst_rel)


check_module_forward = _judged(_check_module_forward, "forward")
check_module_backward = _judged(_check_module_backward, "backward")
