"""The checks run for every case, as plain functions returning an :class:`Outcome`.

pytest's test functions (``test_conformance.py``), the planted-fault tests and the report
all call these, so a case is judged the same way wherever it runs. Every target, torch's
own included, is spoken to through its adapter (``conformance/adapters.py``: torch tensors
through :class:`~conformance.adapters.TorchAdapter`, another framework's arrays through the
target's ``ADAPTER``) and its ``ARGUMENTS`` table, so there is one forward check, one
backward check and one error check, with the same messages for every target.
"""

import math
import traceback
import zlib
from dataclasses import dataclass

import numpy as np

import reference

from . import divergences, domains, guard, ids, layouts
from .adapters import Failure, TorchAdapter
from .cases import find, layout_of, sample_call
from .compare import TOLERANCES, compare
from .registry import REGISTRY
from .reproducers import LITERAL_LIMIT, call_line, describe_call, literal, reproducer


@dataclass
class Outcome:
    # "passed" | "failed" | "skipped", or a failure of a finer kind: "timeout" (no answer within the
    # case time limit), "crashed" (the process holding the target died) or "error" (the suite's own
    # code raised: a defect of the suite, never blamed on the target)
    status: str
    message: str = ""
    max_ulp: float = 0.0
    max_rel: float = 0.0
    used: float = 0.0  # the largest share of its budget a compared value took (compare.Comparison.used)

    @property
    def ok(self):
        return self.status in ("passed", "skipped")


def _skipped(reason):
    return Outcome("skipped", reason)


def reference_function(name, backward=False):
    fn = getattr(reference, name + ("_backward" if backward else ""))

    def run(*args, **kwargs):
        # The reference's own floating-point environment, whatever a target did to NumPy's.
        with np.errstate(all="ignore"):
            return fn(*args, **kwargs)

    return run


def materialize(case_id):
    """The torch arguments of a case, from its id: ``args, kwargs = materialize(id)``."""
    case = find(case_id)
    return arguments(TorchAdapter(case.device), sample_call(case), case.dtype, layout=layout_of(case))


def materialize_arrays(case_id):
    """The NumPy arguments of a case, from its id (floating arrays as float64 holding the
    case dtype's values): ``args, kwargs = materialize_arrays(id)``; convert them with the
    target's ``ADAPTER.convert(value, dtype)``."""
    case = find(case_id)
    return sample_call(case).split()


def output_dtype(case, call):
    requested = call.args.get("dtype")
    return requested if isinstance(requested, str) else case.dtype


def overflow_ok(case):
    # Inputs at the format's maximum: intermediates may overflow (compare.py's policy).
    return case.values == "extreme" and case.dtype in ("float16", "bfloat16")


def terms(call):
    """The number of input elements a result of ``call`` comes from (its first array's size): what
    the budget grows with and what its normwise floor divides (``conformance/compare.py``)."""
    sizes = [v.size for v in call.args.values() if isinstance(v, np.ndarray)]
    return sizes[0] if sizes else 1


def differentiable_args(spec, call):
    return tuple(n for n in spec.differentiable
                 if isinstance(call.args.get(n), np.ndarray) and np.issubdtype(call.args[n].dtype, np.floating))


def differentiated_args(case, call, target):
    """The differentiable arguments of ``call`` that the target differentiates (not its
    ``Signature.no_grad``)."""
    no_grad = target.signature(case.function).no_grad
    return tuple(n for n in differentiable_args(case.spec, call) if n not in no_grad)


# --- the one path every target takes: availability, arguments, the call ---------------------


def prepare(case, target):
    """``(adapter on the case's device, call, None)``, or ``(None, None, skipped Outcome)``; the
    call's output dtype and options are checked once it is sampled."""
    reason = target.unavailable(case.function, case.device, case.dtype, case.spec.requires(case.options))
    if reason:
        return None, None, _skipped(reason)
    layout = layout_of(case)
    if layout != "contiguous" and layout not in target.adapter.layouts:
        return None, None, _skipped(f"layout {layout!r}: the adapter {target.adapter.name!r} stores no "
                                    "such layout (ArrayAdapter.layouts)")
    call = sample_call(case)
    out_dtype = output_dtype(case, call)
    reason = (out_dtype != case.dtype and target.unsupported(case.function, out_dtype)) or \
        target.signature(case.function).unsupported(call.args)
    if reason:
        return None, None, _skipped(reason)
    return target.adapter.on(case.device), call, None


def arguments(adapter, call, dtype, watched=(), layout="contiguous"):
    """``(args, kwargs)``: the call's arguments as the adapter's arrays, in torch's order, stored
    in the case's ``layout``, the ``watched`` ones made ready for differentiation."""
    values = {}
    arranged = layouts.arranged(call) if layout != "contiguous" else ()
    for name, value in call.args.items():
        if name == "dtype" and isinstance(value, str):
            values[name] = adapter.dtype(value)
        else:
            values[name] = adapter.convert(value, dtype)
        if name in arranged:
            values[name] = adapter.arrange(values[name], layout)
        if name in watched:
            values[name] = adapter.watch(values[name])
    items = list(values.items())
    return [v for _, v in items[: call.positional]], dict(items[call.positional:])


def by_name(call, args, kwargs):
    return dict(zip(call.args, list(args) + list(kwargs.values()), strict=True))


def call_target(adapter, fn, args, kwargs):
    """``(out, None)``, or ``(None, message)`` when the target raised (the case fails; the run goes on)."""
    try:
        return guard.in_target(adapter.call, fn, args, kwargs), None
    except Failure as exc:
        return None, str(exc)
    except Exception as exc:
        return None, f"raised {type(exc).__name__}: {exc}"


def read_back(adapter, x, what="output"):
    """``(float64 values, None)``, or ``(None, why not)`` for a result whose values cannot be read
    (a meta tensor, a subclass that refuses ``.to``)."""
    try:
        return np.asarray(adapter.to_numpy(x)), None
    except Exception as exc:
        return None, f"{what}: cannot read its values back ({type(exc).__name__}: {exc})"


def _shape(adapter, x):
    """``(shape, None)`` of a result, or ``(None, why not)``: its ``shape``, else that of its values."""
    shape = getattr(x, "shape", None)
    if shape is not None:
        return tuple(int(n) for n in shape), None
    values, unreadable = read_back(adapter, x)
    return (None, unreadable) if unreadable else (values.shape, None)


def failure(problems, case, call, test, target):
    return "\n".join(problems) + "\n" + reproducer(case, call, test, target)


# --- the checks ---------------------------------------------------------------------------


def check_forward(case, target):
    """Forward value, shape, dtype (and for torch, device), and that no input was modified in place."""
    adapter, call, unavailable = prepare(case, target)
    if unavailable:
        return unavailable
    spec = case.spec
    positional, keywords = call.split()
    expected = guard.quiet(reference_function(spec.name), *positional, **keywords)
    _OUTPUT_SHAPES[case.id] = np.shape(expected)
    out_dtype = output_dtype(case, call)
    args, kwargs = arguments(adapter, call, case.dtype, layout=layout_of(case))
    inputs = {n: v for n, v in by_name(call, args, kwargs).items() if isinstance(call.args[n], np.ndarray)}
    before = {n: adapter.snapshot(v) for n, v in inputs.items()}
    out, error = call_target(adapter, target.port(case.function, call), args, kwargs)
    if error:
        return Outcome("failed", failure([error], case, call, "forward", target))
    problems = adapter.result_problems(out, out_dtype)
    result = None
    if adapter.is_array(out):
        values, unreadable = read_back(adapter, out)
        if unreadable:
            problems.append(unreadable)
        else:
            result = compare(values, expected, out_dtype, tolerance(case, out_dtype, target), terms=terms(call),
                             overflow_ok=overflow_ok(case))
            if not result.ok:
                problems.append(result.message)
    for name, value in inputs.items():
        if adapter.snapshot(value) != before[name]:
            problems.append(f"input {name!r} was modified in place")
    if problems:
        return Outcome("failed", failure(problems, case, call, "forward", target),
                       result.max_ulp if result else math.inf, result.max_rel if result else math.inf)
    return Outcome("passed", "", result.max_ulp, result.max_rel, result.used)


def read_gradients(adapter, call, grads, names, dtype, problems):
    """The float64 values of the gradients ``grads`` (``{name: array or None}``) of the
    arguments ``names``, by the one rule for every adapter: an array is checked as a result
    of ``dtype``, ``None`` is a zero gradient (torch.autograd's ``allow_unused``), a missing
    name is "not returned". Failure messages are appended to ``problems``."""
    actual = {}
    for name in names:
        if name not in grads:
            problems.append(f"grad of {name}: not returned")
            continue
        grad = grads[name]
        if grad is None:
            actual[name] = np.zeros(np.shape(call.args[name]))
            continue
        problems += adapter.result_problems(grad, dtype, what=f"grad of {name}")
        if adapter.is_array(grad):
            values, unreadable = read_back(adapter, grad, f"grad of {name}")
            if unreadable:
                problems.append(unreadable)
            else:
                actual[name] = values
    return actual


def tolerance(case, dtype, target=None, check="forward"):
    """The spec's tolerance for ``dtype`` (the policy's where it has none), narrowed by the target's
    accuracy record for this check of the case (``divergences.narrowed``)."""
    spec_tolerance = case.spec.tolerance(dtype) or TOLERANCES[dtype]
    return spec_tolerance if target is None else divergences.narrowed(spec_tolerance, target, check, case.id)


def compare_gradients(case, call, actual, expected, problems, target=None):
    """Compare each ``actual[name]`` (float64 values) with the reference's ``expected[name]``,
    appending failure messages to ``problems``; returns the worst ULP and relative errors and the
    largest share of the budget used."""
    worst_ulp = worst_rel = used = 0.0
    for name, values in actual.items():
        result = compare(values, expected[name], case.dtype, tolerance(case, case.dtype, target, "backward"),
                         terms=terms(call), what=f"grad of {name}", overflow_ok=overflow_ok(case))
        worst_ulp, worst_rel = max(worst_ulp, result.max_ulp), max(worst_rel, result.max_rel)
        used = max(used, result.used)
        if not result.ok:
            problems.append(result.message)
    return worst_ulp, worst_rel, used


def _target_gradients(target, adapter, case, call, fn, args, kwargs, names, grad_output, out):
    """``{torch name: gradient or None}`` from the target's ``<f>_backward`` or the adapter's
    autodiff (``None`` when the adapter cannot differentiate this call)."""
    backward = target.backward_function(case.function)
    if backward is not None:
        def port(*a, **k):
            return backward(grad_output, *a, **k)

        grads = guard.in_target(adapter.call, target.port(case.function, call, port), args, kwargs)
        back = {v: k for k, v in target.signature(case.function).rename.items()}
        return {back.get(k, k): v for k, v in dict(grads).items()}
    grads = guard.in_target(adapter.gradients, fn, (), by_name(call, args, kwargs), names, grad_output, out)
    return None if grads is None else dict(grads)


_OUTPUT_SHAPES = {}  # case id -> the reference's output shape, kept by the forward check


def _expected_shape(case, call):
    """The shape of the reference's output (``grad_output`` has it): the forward check's, or computed."""
    if case.id not in _OUTPUT_SHAPES:
        positional, keywords = call.split()
        _OUTPUT_SHAPES[case.id] = np.shape(guard.quiet(reference_function(case.function), *positional, **keywords))
    return _OUTPUT_SHAPES[case.id]


def check_backward(case, target):
    """Gradients of every differentiable argument under a random ``grad_output``."""
    adapter, call, unavailable = prepare(case, target)
    if unavailable:
        return unavailable
    spec = case.spec
    differentiable = differentiable_args(spec, call)
    if not differentiable:
        return _skipped("no differentiable argument in this case")
    grad_args = differentiated_args(case, call, target)
    if not grad_args:
        names = ", ".join(repr(n) for n in differentiable)
        return _skipped(f"the port does not differentiate {names} (Signature.no_grad)")
    if target.backward_function(case.function) is None and not adapter.differentiates:
        return _skipped(f"no gradients: the target has no {case.function}_backward and the adapter "
                        f"{adapter.name!r} no autodiff")
    out_dtype = output_dtype(case, call)
    args, kwargs = arguments(adapter, call, case.dtype, watched=grad_args, layout=layout_of(case))
    fn = target.port(case.function, call)
    out, error = call_target(adapter, fn, args, kwargs)
    if error:
        return Outcome("failed", failure([error], case, call, "backward", target))
    problems = adapter.result_problems(out, out_dtype)
    shape, unreadable = _shape(adapter, out) if not problems else (None, None)
    if problems or unreadable:
        return Outcome("failed", failure(problems or [unreadable], case, call, "backward", target))
    expected_shape = _expected_shape(case, call)
    if shape != expected_shape:
        problems.append(f"output: got shape {shape}, but should be {expected_shape} "
                        "(so no grad_output of the right shape; no gradient checked)")
        return Outcome("failed", failure(problems, case, call, "backward", target))
    grad_output = domains.grad_output(case.rng(1), shape, out_dtype)
    try:
        grads = _target_gradients(target, adapter, case, call, fn, args, kwargs, grad_args,
                                  adapter.asarray(grad_output, out_dtype), out)
    except Failure as exc:
        return Outcome("failed", failure([str(exc)], case, call, "backward", target))
    except Exception as exc:
        return Outcome("failed", failure([f"backward raised {type(exc).__name__}: {exc}"], case, call,
                                       "backward", target))
    if grads is None:
        return _skipped(f"no gradients: the adapter {adapter.name!r} returned none for this call")
    positional, keywords = call.split()
    expected = guard.quiet(reference_function(spec.name, backward=True), grad_output, *positional, **keywords)
    actual = read_gradients(adapter, call, grads, grad_args, case.dtype, problems)
    worst_ulp, worst_rel, used = compare_gradients(case, call, actual, expected, problems, target)
    if problems:
        numpy = call_line(target)[3]
        shown = literal(grad_output, out_dtype, numpy) if grad_output.size <= LITERAL_LIMIT else "random"
        problems.append(f"grad_output: {shown}")
        return Outcome("failed", failure(problems, case, call, "backward", target), worst_ulp, worst_rel)
    return Outcome("passed", "", worst_ulp, worst_rel, used)


@dataclass(frozen=True)
class ErrorInstance:
    """An error case of one function on one device, with an id like a case's."""

    function: str
    index: int
    device: str = "cpu"

    @property
    def error(self):
        return REGISTRY[self.function].errors[self.index]

    @property
    def id(self):
        return ids.on_device(f"{self.function}({self.error.label})", self.device)

    def call(self):
        return self.error.build(np.random.default_rng(zlib.crc32(f"{self.function}({self.error.label})".encode())))


def find_error(instance_id):
    """The error instance with this id (``nll_loss(target out of range)``, with ``, device=...``)."""
    function, device = ids.function_of(instance_id), ids.device_of(instance_id)
    if function in REGISTRY:
        for index in range(len(REGISTRY[function].errors)):
            instance = ErrorInstance(function, index, device)
            if instance.id == instance_id:
                return instance
    raise KeyError(f"no error case with id {instance_id!r}")


def _reference_raises(instance, call):
    """A failed Outcome when the reference does not raise the registered class, else None."""
    expected = instance.error.raises
    positional, keywords = call.split()
    try:
        guard.quiet(reference_function(instance.function), *positional, **keywords)
    except Exception as exc:
        if not isinstance(exc, expected):
            return Outcome("failed", f"the reference raised {type(exc).__name__}: {exc}, "
                                     f"but the registry expects {expected.__name__} for {instance.id}")
        return None
    return Outcome("failed", f"the reference did not raise {expected.__name__} for {instance.id}")


def _error_dtype(target, function):
    """The floating dtype an error case is made in: float32, else the first the target has for
    ``function`` (None: none). ``target`` may be the isolation worker's summary of one."""
    adapter = getattr(target, "adapter", None)
    if adapter is None:
        return "float32"
    candidates = dict.fromkeys(("float32",) + tuple(adapter.dtype_names))
    if not hasattr(target, "unsupported"):
        return "float32" if "float32" in adapter.dtype_names else adapter.dtype_names[0]
    return next((d for d in candidates if target.unsupported(function, d) is None), None)


def _error_call_text(target, instance, call, dtype):
    label, _, module, numpy = call_line(target)
    return f"{label}: {describe_call(instance.function, call, dtype, module, numpy=numpy)}"


def check_error(instance, target):
    """Both the reference and the target must raise the registered exception class (or one the
    target's adapter accepts in its place)."""
    reason = target.unavailable(instance.function, instance.device, None)
    if reason:
        return _skipped(reason)
    kind = instance.device.split(":")[0]
    if instance.error.cpu_only and kind != "cpu":
        return _skipped(f"{'CUDA' if kind == 'cuda' else kind} reports this with a device-side assert, "
                        "not an exception")
    expected = instance.error.raises
    call = instance.call()
    wrong_reference = _reference_raises(instance, call)
    if wrong_reference:
        return wrong_reference
    dtype = _error_dtype(target, instance.function)
    if dtype is None:
        return _skipped(f"the port's {instance.function} has none of the floating dtypes")
    reason = target.signature(instance.function).unsupported(call.args)
    if reason:
        return _skipped(reason)
    adapter = target.adapter.on(instance.device)
    args, kwargs = arguments(adapter, call, dtype)
    where = (f"\n{_error_call_text(target, instance, call, dtype)}"
             f"\nrerun: {ids.rerun(ids.node('error', instance.id), target, instance.device)}")
    accepted = adapter.accepted_exceptions(expected)
    try:
        guard.in_target(adapter.call, target.port(instance.function, call), args, kwargs)
    except Exception as exc:
        if isinstance(exc, accepted):
            return Outcome("passed")
        names = " or ".join(c.__name__ for c in accepted)
        return Outcome("failed", f"raised {type(exc).__name__}: {exc}, but should raise {names}{where}")
    return Outcome("failed", f"did not raise, but should raise {expected.__name__}{where}")


def reproduction(check, item, target):
    """The ``call:`` and ``rerun:`` lines of one check of the grid, without running it."""
    if check != "error":
        return reproducer(item, sample_call(item), check, target)
    dtype = _error_dtype(target, item.function) or "float32"
    rerun = ids.rerun(ids.node("error", item.id), target, item.device)
    return f"{_error_call_text(target, item, item.call(), dtype)}\nrerun: {rerun}"


CHECKS = {"forward": check_forward, "backward": check_backward, "error": check_error}


def judged(run, item_id, reproduce):
    """``run()``'s Outcome, judged as one case: a change of global state by the target fails it,
    naming what changed (``reproduce()`` gives the call and rerun lines), and is put back, so the
    cases after it are never blamed; an exception of the suite's own code is an ``"error"``
    outcome, not the target's failure."""
    before = guard.begin()
    try:
        outcome = run()
    except Exception:
        outcome = Outcome("error", f"the suite itself raised while checking {item_id}:\n{traceback.format_exc()}")
    changed = guard.changes(before)
    if changed:
        side_effect = f"the target changed global state (put back for the next case): {'; '.join(changed)}"
        if outcome.status in ("passed", "skipped"):
            return Outcome("failed", f"{side_effect}\n{reproduce()}")
        outcome.message = f"{side_effect}\n{outcome.message}"
    return outcome
