"""The checks run for every case, as plain functions returning an :class:`Outcome`.

pytest's test functions (``test_conformance.py``), the planted-fault tests and the report
all call these, so a case is judged the same way wherever it runs. A target with an
``adapter`` (an array target, ``conformance/adapters.py``) gets the same checks through
the adapter: the ``_array_*`` functions at the end.
"""

import math
import shlex
import traceback
import warnings
import zlib
from dataclasses import dataclass

import numpy as np
import torch

import reference

from .adapters import ArrayAdapter as ArrayAdapterBase
from .compare import budget_growth, compare
from .domains import real
from .registry import torch_release_at_least
from .targets import DEFAULT_TARGET, TORCH_DTYPES, bits, convert_call, to_numpy, to_torch, torch_dtype_name

LITERAL_LIMIT = 64  # arrays up to this size are printed inline in reproducers


@dataclass
class Outcome:
    # "passed" | "failed" | "skipped", or a failure of a finer kind: "timeout" (no answer within the
    # case time limit), "crashed" (the process holding the target died) or "error" (the suite's own
    # code raised: a defect of the suite, never blamed on the target)
    status: str
    message: str = ""
    max_ulp: float = 0.0
    max_rel: float = 0.0

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


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deprecation warnings are checked elsewhere
        return fn(*args, **kwargs)


def _in_target(fn, *args, **kwargs):
    """Call into the target's code (its function, its adapter, autograd through its graph). Global
    state it changes is put back at once, so the suite's own work after the call runs as usual, and
    recorded, so that :func:`run_check` fails the case for it."""
    before = global_state()
    try:
        return _quiet(fn, *args, **kwargs)
    finally:
        _SIDE_EFFECTS.extend(put_back(before))


# Global state a target can change for the cases after it: name -> (read, put back).
_TINY = torch.tensor([1e-39], dtype=torch.float32)  # a float32 subnormal: zero under flush-denormal mode


def _deterministic():
    return torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()


GLOBAL_STATE = {
    "grad mode": (torch.is_grad_enabled, torch.set_grad_enabled),
    "default dtype": (torch.get_default_dtype, torch.set_default_dtype),
    "deterministic algorithms": (_deterministic, lambda v: torch.use_deterministic_algorithms(v[0], warn_only=v[1])),
    "flush-denormal mode": (lambda: bool(torch.mul(_TINY, 1.0).item() == 0.0), torch.set_flush_denormal),
    "anomaly detection": (torch.is_anomaly_enabled, torch.set_anomaly_enabled),
    "NumPy error state": (np.geterr, lambda v: np.seterr(**v)),
}
if hasattr(torch, "get_default_device"):  # torch >= 2.3
    GLOBAL_STATE["default device"] = (torch.get_default_device, torch.set_default_device)
_SIDE_EFFECTS = []  # what the target changed during the current check


def global_state():
    return {name: read() for name, (read, _) in GLOBAL_STATE.items()}


def put_back(before):
    """Restore the state ``before``; the changes found, as text."""
    changed = []
    for name, (read, restore) in GLOBAL_STATE.items():
        now = read()
        if now != before[name]:
            restore(before[name])
            changed.append(f"{name} {before[name]!r} -> {now!r}")
    return changed


def _array_text(value, nan, inf):
    text = np.array2string(value, separator=", ", threshold=10**6, floatmode="unique", max_line_width=10**6)
    return " ".join(text.replace("nan", nan).replace("inf", inf).split())


def _literal(value, dtype, numpy=False):
    """A value as Python source: a torch.tensor literal, or with ``numpy=True`` an np.array."""
    if isinstance(value, np.ndarray):
        floating = np.issubdtype(value.dtype, np.floating)
        if numpy:
            text = _array_text(value, "np.nan", "np.inf")
            return f"np.array({text}, dtype={dtype if floating else value.dtype.name!r})"
        text = _array_text(value, "float('nan')", "float('inf')")
        kind = dtype if floating else ("bool" if value.dtype == np.bool_ else value.dtype.name)
        return f"torch.tensor({text}, dtype=torch.{kind})"
    if not numpy and isinstance(value, str) and value in TORCH_DTYPES:
        return f"torch.{value}"
    return repr(value)


def describe_call(function, call, dtype, target_name="F", numpy=False):
    """The call as Python source, with its arrays inline (torch tensors, or NumPy arrays)."""
    parts = []
    for i, (name, value) in enumerate(call.args.items()):
        text = _literal(value, dtype, numpy)
        parts.append(text if i < call.positional else f"{name}={text}")
    return f"{target_name}.{function}({', '.join(parts)})"


def _small(call):
    return all(v.size <= LITERAL_LIMIT for v in call.args.values() if isinstance(v, np.ndarray))


def reproducer(case, call, test, target):
    """Two lines: the call (pasteable after ``import torch, torch.nn.functional as F``, or for an
    array target after importing the port as ``port``) and the command that reruns this one case."""
    adapter = getattr(target, "adapter", None)
    if adapter is None:
        label, materializer, module = "call", "materialize", "F"
    else:
        label, materializer, module = f"call (through the adapter {adapter.name!r})", "materialize_arrays", "port"
    if _small(call):
        call_text = describe_call(case.function, call, case.dtype, module, numpy=adapter is not None)
    else:
        call_text = (f"from conformance.harness import {materializer}; "
                     f"args, kwargs = {materializer}({case.id!r}); {module}.{case.function}(*args, **kwargs)")
    rerun = rerun_command(f"test_conformance::test_{test}[{case.id}]", target, case.device)
    return f"{label}: {call_text}\nrerun: {rerun}"


def rerun_command(node, target=None, device="cpu"):
    """The command that reruns one test, from any directory and from a wheel install alike:
    ``node`` is the test's id inside the package (``test_conformance::test_forward[<id>]``)."""
    words = [f'pytest --pyargs "conformance.{node}"']
    name = getattr(target, "name", target)
    if name and name != DEFAULT_TARGET:
        words.append(f"--conformance-target={shlex.quote(name)}")
    if device != "cpu":
        words.append(f"--conformance-device={device}")
    return " ".join(words)


def materialize(case_id):
    """The torch arguments of a case, from its id: ``args, kwargs = materialize(id)``."""
    from .cases import find

    case = find(case_id)
    call = case.spec.sample(case.rng(), case)
    args, kwargs, _ = convert_call(call, case.dtype, case.device)
    return args, kwargs


def _out_dtype(case, call):
    requested = call.args.get("dtype")
    return requested if isinstance(requested, str) else case.dtype


def _overflow_ok(case):
    # Inputs at the format's maximum: intermediates may overflow (compare.py's policy).
    return case.values == "extreme" and case.dtype in ("float16", "bfloat16")


def _growth(call):
    sizes = [v.size for v in call.args.values() if isinstance(v, np.ndarray)]
    return budget_growth(sizes[0] if sizes else 1)


def _availability(case, target):
    if not target.provides(case.function):
        return _skipped("not provided by target")
    required = case.spec.requires(case.options)
    if required and target.is_torch and not torch_release_at_least(torch.__version__, required[0]):
        return _skipped(f"needs torch >= {required[0]} ({required[1]}); installed {torch.__version__}")
    if case.device.startswith("cuda") and not torch.cuda.is_available():
        return _skipped("CUDA is not available")
    return None


def _call_target(target, case, args, kwargs):
    try:
        return _in_target(target.function(case.function), *args, **kwargs), None
    except Exception as exc:  # a target that raises fails this case; the run goes on
        return None, f"raised {type(exc).__name__}: {exc}"


def _result_problems(case, out, out_dtype):
    if not isinstance(out, torch.Tensor):
        return [f"returned {type(out).__name__}, but should return a torch.Tensor"]
    problems = []
    if out.dtype != TORCH_DTYPES[out_dtype]:
        problems.append(f"dtype: got torch.{torch_dtype_name(out.dtype)}, but should be torch.{out_dtype}")
    if out.device.type != torch.device(case.device).type:
        problems.append(f"device: got {out.device}, but should be {case.device}")
    return problems


def _read_back(tensor, what="output"):
    """``(float64 values, None)``, or ``(None, why not)`` for a tensor whose values cannot be read
    (a meta tensor, a subclass that refuses ``.to``)."""
    try:
        return to_numpy(tensor), None
    except Exception as exc:
        return None, f"{what}: cannot read its values back ({type(exc).__name__}: {exc})"


def _fail(problems, case, call, test, target):
    return "\n".join(problems) + "\n" + reproducer(case, call, test, target)


def check_forward(case, target):
    """Forward value, shape, dtype and device, and that no input was modified in place."""
    if getattr(target, "adapter", None) is not None:
        return _array_forward(case, target)
    unavailable = _availability(case, target)
    if unavailable:
        return unavailable
    spec = case.spec
    call = spec.sample(case.rng(), case)
    positional, keywords = call.split()
    expected = _quiet(reference_function(spec.name), *positional, **keywords)
    out_dtype = _out_dtype(case, call)
    args, kwargs, _ = convert_call(call, case.dtype, case.device)
    tensors = {n: t for n, t in zip(call.args, list(args) + list(kwargs.values()), strict=True)
               if isinstance(t, torch.Tensor)}
    before = {n: bits(t) for n, t in tensors.items()}
    out, error = _call_target(target, case, args, kwargs)
    if error:
        return Outcome("failed", _fail([error], case, call, "forward", target))
    problems = _result_problems(case, out, out_dtype)
    result = None
    if isinstance(out, torch.Tensor):
        values, unreadable = _read_back(out)
        if unreadable:
            problems.append(unreadable)
        else:
            result = compare(values, expected, out_dtype, spec.tolerance(out_dtype), _growth(call),
                             overflow_ok=_overflow_ok(case))
            if not result.ok:
                problems.append(result.message)
    for name, tensor in tensors.items():
        if not torch.equal(bits(tensor), before[name]):
            problems.append(f"input {name!r} was modified in place")
    if problems:
        return Outcome("failed", _fail(problems, case, call, "forward", target),
                       result.max_ulp if result else math.inf, result.max_rel if result else math.inf)
    return Outcome("passed", "", result.max_ulp, result.max_rel)


def differentiable_args(spec, call):
    return tuple(n for n in spec.differentiable
                 if isinstance(call.args.get(n), np.ndarray) and np.issubdtype(call.args[n].dtype, np.floating))


def autograd_against_reference(case, call, out, leaves, out_dtype):
    """Torch's gradients of ``out`` with respect to ``leaves`` under the case's random
    ``grad_output``, and the reference's: ``(grad_output, actual, expected, error)``, with
    ``error`` the message when the backward raised."""
    grad_output = real(case.rng(1), tuple(out.shape), out_dtype)
    try:
        grads = _in_target(torch.autograd.grad, out, list(leaves.values()),
                           to_torch(grad_output, out_dtype, case.device),
                                    allow_unused=True)
    except Exception as exc:
        return grad_output, None, None, f"backward raised {type(exc).__name__}: {exc}"
    positional, keywords = call.split()
    expected = _quiet(reference_function(case.function, backward=True), grad_output, *positional, **keywords)
    actual = {}
    for (name, leaf), grad in zip(leaves.items(), grads, strict=True):
        values, unreadable = (np.zeros(leaf.shape), None) if grad is None else _read_back(grad, f"grad of {name}")
        if unreadable:
            return grad_output, None, None, unreadable
        actual[name] = values
    return grad_output, actual, expected, None


def compare_gradients(case, call, actual, expected, problems):
    """Compare each ``actual[name]`` (float64 values) with the reference's ``expected[name]``,
    appending failure messages to ``problems``; returns the worst ULP and relative errors."""
    worst_ulp = worst_rel = 0.0
    for name, values in actual.items():
        result = compare(values, expected[name], case.dtype, case.spec.tolerance(case.dtype), _growth(call),
                         what=f"grad of {name}", overflow_ok=_overflow_ok(case))
        worst_ulp, worst_rel = max(worst_ulp, result.max_ulp), max(worst_rel, result.max_rel)
        if not result.ok:
            problems.append(result.message)
    return worst_ulp, worst_rel


def check_backward(case, target):
    """Gradients of every differentiable argument under a random ``grad_output``."""
    if getattr(target, "adapter", None) is not None:
        return _array_backward(case, target)
    unavailable = _availability(case, target)
    if unavailable:
        return unavailable
    spec = case.spec
    call = spec.sample(case.rng(), case)
    grad_args = differentiable_args(spec, call)
    if not grad_args:
        return _skipped("no differentiable argument in this case")
    out_dtype = _out_dtype(case, call)
    args, kwargs, leaves = convert_call(call, case.dtype, case.device, grad_args)
    out, error = _call_target(target, case, args, kwargs)
    if error:
        return Outcome("failed", _fail([error], case, call, "backward", target))
    problems = _result_problems(case, out, out_dtype)
    if problems:
        return Outcome("failed", _fail(problems, case, call, "backward", target))
    if not out.requires_grad:
        return Outcome("failed", _fail(["output does not require grad: the target detached the graph"],
                                       case, call, "backward", target))
    grad_output, actual, expected, error = autograd_against_reference(case, call, out, leaves, out_dtype)
    if error:
        return Outcome("failed", _fail([error], case, call, "backward", target))
    worst_ulp, worst_rel = compare_gradients(case, call, actual, expected, problems)
    if problems:
        shown = _literal(grad_output, out_dtype) if grad_output.size <= LITERAL_LIMIT else "random"
        problems.append(f"grad_output: {shown}")
        return Outcome("failed", _fail(problems, case, call, "backward", target), worst_ulp, worst_rel)
    return Outcome("passed", "", worst_ulp, worst_rel)


@dataclass(frozen=True)
class ErrorInstance:
    """An error case of one function on one device, with an id like a case's."""

    function: str
    index: int
    device: str = "cpu"

    @property
    def error(self):
        from .registry import REGISTRY

        return REGISTRY[self.function].errors[self.index]

    @property
    def id(self):
        suffix = "" if self.device == "cpu" else f", device={self.device!r}"
        return f"{self.function}({self.error.label}{suffix})"

    def call(self):
        return self.error.build(np.random.default_rng(zlib.crc32(f"{self.function}({self.error.label})".encode())))


def _reference_raises(instance, call):
    """A failed Outcome when the reference does not raise the registered class, else None."""
    expected = instance.error.raises
    positional, keywords = call.split()
    try:
        _quiet(reference_function(instance.function), *positional, **keywords)
    except Exception as exc:
        if not isinstance(exc, expected):
            return Outcome("failed", f"the reference raised {type(exc).__name__}: {exc}, "
                                     f"but the registry expects {expected.__name__} for {instance.id}")
        return None
    return Outcome("failed", f"the reference did not raise {expected.__name__} for {instance.id}")


def check_error(instance, target):
    """Both the reference and the target must raise the registered exception class (for an
    array target: that class or one its adapter accepts in its place)."""
    if getattr(target, "adapter", None) is not None:
        return _array_error(instance, target)
    if not target.provides(instance.function):
        return _skipped("not provided by target")
    if instance.device.startswith("cuda"):
        if not torch.cuda.is_available():
            return _skipped("CUDA is not available")
        if instance.error.cpu_only:
            return _skipped("CUDA reports this with a device-side assert, not an exception")
    expected = instance.error.raises
    call = instance.call()
    wrong_reference = _reference_raises(instance, call)
    if wrong_reference:
        return wrong_reference
    args, kwargs, _ = convert_call(call, "float32", instance.device)
    where = (f"\ncall: {describe_call(instance.function, call, 'float32')}"
             f"\nrerun: {rerun_command(f'test_conformance::test_error[{instance.id}]', target, instance.device)}")
    try:
        _in_target(target.function(instance.function), *args, **kwargs)
    except Exception as exc:
        if isinstance(exc, expected):
            return Outcome("passed")
        return Outcome("failed", f"raised {type(exc).__name__}: {exc}, but should raise {expected.__name__}{where}")
    return Outcome("failed", f"did not raise, but should raise {expected.__name__}{where}")


# Array targets (conformance/adapters.py): the same checks, through the target's adapter.


def describe_array_call(function, call, dtype, target_name="port"):
    """The call as Python source over NumPy arrays (the adapter converts them)."""
    return describe_call(function, call, dtype, target_name, numpy=True)


def materialize_arrays(case_id):
    """The NumPy arguments of a case, from its id (floating arrays as float64 holding the
    case dtype's values): ``args, kwargs = materialize_arrays(id)``; convert them with the
    target's ``ADAPTER.convert(value, dtype)``."""
    from .cases import find

    case = find(case_id)
    return case.spec.sample(case.rng(), case).split()


def _array_availability(case, target, call=None):
    adapter = target.adapter
    if not target.provides(case.function):
        return _skipped("not provided by target")
    if not case.device.startswith("cpu"):
        return _skipped("array targets run where their adapter puts them; --device applies to torch targets")
    if case.dtype not in adapter.dtype_names:
        return _skipped(f"the adapter {adapter.name!r} has no {case.dtype}")
    if call is not None:
        out_dtype = _out_dtype(case, call)
        if out_dtype not in adapter.dtype_names:
            return _skipped(f"the adapter {adapter.name!r} has no {out_dtype}")
        reason = target.signature(case.function).unsupported(call.split()[1])
        if reason:
            return _skipped(reason)
    return None


def _array_convert(target, call, dtype):
    """``(args, kwargs, wrapped)``: the call's arguments as the framework's arrays, and the
    target's function behind torch's calling convention (``ARGUMENTS`` applied)."""
    adapter = target.adapter
    values = {n: adapter.dtype(v) if n == "dtype" and isinstance(v, str) else adapter.convert(v, dtype)
              for n, v in call.args.items()}
    items = list(values.items())
    return [v for _, v in items[: call.positional]], dict(items[call.positional:])


def _array_wrapped(target, function, call, fn=None):
    signature = target.signature(function)
    return signature.wrap(fn or target.function(function), list(call.args), call.positional)


def _array_result_problems(adapter, out, out_dtype, what="output"):
    if not adapter.is_array(out):
        return [f"{what}: returned {type(out).__name__}, but should return an array of the adapter {adapter.name!r}"]
    name = adapter.dtype_name(out)
    if name is not None and name != out_dtype:
        return [f"{what}: dtype: got {name}, but should be {out_dtype}"]
    return []


def _array_run(target, case, call):
    """Call the target on the case; ``(out, args, kwargs, error)``."""
    args, kwargs = _array_convert(target, call, case.dtype)
    try:
        out = _quiet(target.adapter.call, _array_wrapped(target, case.function, call), args, kwargs)
    except Exception as exc:  # a target that raises fails this case; the run goes on
        return None, args, kwargs, f"raised {type(exc).__name__}: {exc}"
    return out, args, kwargs, None


def _array_call(case, target):
    """The case's arguments, or why the target cannot run it (checked before and after sampling)."""
    unavailable = _array_availability(case, target)
    if unavailable:
        return None, unavailable
    call = case.spec.sample(case.rng(), case)
    return call, _array_availability(case, target, call)


def _array_forward(case, target):
    spec = case.spec
    call, unavailable = _array_call(case, target)
    if unavailable:
        return unavailable
    adapter = target.adapter
    positional, keywords = call.split()
    expected = _quiet(reference_function(spec.name), *positional, **keywords)
    out_dtype = _out_dtype(case, call)
    args, kwargs = _array_convert(target, call, case.dtype)
    arrays = {n: v for n, v in zip(call.args, list(args) + list(kwargs.values()), strict=True)
              if isinstance(call.args[n], np.ndarray)}
    before = {n: adapter.snapshot(v) for n, v in arrays.items()}
    try:
        out = _in_target(adapter.call, _array_wrapped(target, case.function, call), args, kwargs)
    except Exception as exc:
        return Outcome("failed", _fail([f"raised {type(exc).__name__}: {exc}"], case, call, "forward", target))
    problems = _array_result_problems(adapter, out, out_dtype)
    result = None
    if not problems or problems[0].startswith("output: dtype"):
        result = compare(adapter.to_numpy(out), expected, out_dtype, spec.tolerance(out_dtype), _growth(call),
                         overflow_ok=_overflow_ok(case))
        if not result.ok:
            problems.append(result.message)
    for name, value in arrays.items():
        if adapter.snapshot(value) != before[name]:
            problems.append(f"input {name!r} was modified in place")
    if problems:
        return Outcome("failed", _fail(problems, case, call, "forward", target),
                       result.max_ulp if result else math.inf, result.max_rel if result else math.inf)
    return Outcome("passed", "", result.max_ulp, result.max_rel)


def _array_gradients(target, case, call, args, kwargs, grad_args, grad_output):
    """``{torch name: gradient}`` from the target's ``<f>_backward`` or the adapter's autodiff;
    None when neither is there."""
    adapter = target.adapter
    signature = target.signature(case.function)
    backward = target.backward_function(case.function)
    if backward is not None:
        def port(*a, **k):
            return backward(grad_output, *a, **k)

        grads = _in_target(adapter.call, _array_wrapped(target, case.function, call, port), args, kwargs)
        back = {v: k for k, v in signature.rename.items()}
        return {back.get(k, k): v for k, v in dict(grads).items()}
    by_name = dict(zip(call.args, list(args) + list(kwargs.values()), strict=True))  # every argument by name
    grads = _in_target(adapter.gradients, _array_wrapped(target, case.function, call), (), by_name,
                   grad_args, grad_output)
    return None if grads is None else dict(grads)


def _array_backward(case, target):
    spec = case.spec
    call, unavailable = _array_call(case, target)
    if unavailable:
        return unavailable
    grad_args = differentiable_args(spec, call)
    if not grad_args:
        return _skipped("no differentiable argument in this case")
    adapter = target.adapter
    if target.backward_function(case.function) is None and type(adapter).gradients is ArrayAdapterBase.gradients:
        return _skipped(f"no gradients: the target has no {case.function}_backward and the adapter "
                        f"{adapter.name!r} no autodiff")
    out_dtype = _out_dtype(case, call)
    out, args, kwargs, error = _array_run(target, case, call)
    if error:
        return Outcome("failed", _fail([error], case, call, "backward", target))
    problems = _array_result_problems(adapter, out, out_dtype)
    if problems:
        return Outcome("failed", _fail(problems, case, call, "backward", target))
    grad_output = real(case.rng(1), tuple(np.shape(adapter.to_numpy(out))), out_dtype)
    try:
        grads = _array_gradients(target, case, call, args, kwargs, grad_args, adapter.asarray(grad_output, out_dtype))
    except Exception as exc:
        return Outcome("failed", _fail([f"backward raised {type(exc).__name__}: {exc}"], case, call,
                                             "backward", target))
    if grads is None:
        return _skipped(f"no gradients: the adapter {adapter.name!r} returned none for this call")
    positional, keywords = call.split()
    expected = _quiet(reference_function(spec.name, backward=True), grad_output, *positional, **keywords)
    actual = {}
    for name in grad_args:
        if grads.get(name) is None:
            problems.append(f"grad of {name}: not returned")
            continue
        wrong = _array_result_problems(adapter, grads[name], case.dtype, what=f"grad of {name}")
        problems += wrong
        if not wrong or adapter.is_array(grads[name]):
            actual[name] = adapter.to_numpy(grads[name])
    worst_ulp, worst_rel = compare_gradients(case, call, actual, expected, problems)
    if problems:
        shown = _literal(grad_output, out_dtype, numpy=True) if grad_output.size <= LITERAL_LIMIT else "random"
        problems.append(f"grad_output: {shown}")
        return Outcome("failed", _fail(problems, case, call, "backward", target), worst_ulp, worst_rel)
    return Outcome("passed", "", worst_ulp, worst_rel)


def _array_error(instance, target):
    adapter = target.adapter
    if not target.provides(instance.function):
        return _skipped("not provided by target")
    if not instance.device.startswith("cpu"):
        return _skipped("array targets run where their adapter puts them; --device applies to torch targets")
    expected = instance.error.raises
    call = instance.call()
    wrong_reference = _reference_raises(instance, call)
    if wrong_reference:
        return wrong_reference
    dtype = "float32" if "float32" in adapter.dtype_names else adapter.dtype_names[0]
    reason = target.signature(instance.function).unsupported(call.split()[1])
    if reason:
        return _skipped(reason)
    args, kwargs = _array_convert(target, call, dtype)
    where = (f"\ncall (through the adapter {adapter.name!r}): {describe_array_call(instance.function, call, dtype)}"
             f"\nrerun: {rerun_command(f'test_conformance::test_error[{instance.id}]', target)}")
    accepted = adapter.accepted_exceptions(expected)
    try:
        _in_target(adapter.call, _array_wrapped(target, instance.function, call), args, kwargs)
    except Exception as exc:
        if isinstance(exc, accepted):
            return Outcome("passed")
        names = " or ".join(c.__name__ for c in accepted)
        return Outcome("failed", f"raised {type(exc).__name__}: {exc}, but should raise {names}{where}")
    return Outcome("failed", f"did not raise, but should raise {expected.__name__}{where}")


# --- one check, as the test runs it: the global state a target can change is put back --------


def run_check(check, item, target):
    """``CHECKS[check](item, target)``, judged as one case: a change of global state by the target
    fails it, naming what changed, and is put back, so the cases after it are never blamed; an
    exception of the suite's own code is an ``"error"`` outcome, not the target's failure."""
    _SIDE_EFFECTS.clear()
    before = global_state()
    try:
        outcome = CHECKS[check](item, target)
    except Exception:
        outcome = Outcome("error", f"the suite itself raised while checking {item.id}:\n{traceback.format_exc()}")
    changed = list(dict.fromkeys(_SIDE_EFFECTS + put_back(before)))
    if changed:
        side_effect = f"the target changed global state (put back for the next case): {'; '.join(changed)}"
        if outcome.status in ("passed", "skipped"):
            return Outcome("failed", f"{side_effect}\n{reproduction(check, item, target)}")
        outcome.message = f"{side_effect}\n{outcome.message}"
    return outcome


def reproduction(check, item, target):
    """The ``call:`` and ``rerun:`` lines of one check, without running it."""
    if check != "error":
        return reproducer(item, item.spec.sample(item.rng(), item), check, target)
    adapter = getattr(target, "adapter", None)
    dtype = "float32" if adapter is None or "float32" in adapter.dtype_names else adapter.dtype_names[0]
    if adapter is None:
        label, call = "call", describe_call(item.function, item.call(), dtype)
    else:
        label = f"call (through the adapter {adapter.name!r})"
        call = describe_array_call(item.function, item.call(), dtype)
    rerun = rerun_command(f"test_conformance::test_error[{item.id}]", target, item.device)
    return f"{label}: {call}\nrerun: {rerun}"


CHECKS = {"forward": check_forward, "backward": check_backward, "error": check_error}
