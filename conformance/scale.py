"""The scale profile: production shapes, forward and backward, checked in chunks.

Kernel bugs live at production shapes: long reductions accumulate error, 32-bit offsets
overflow, chunked kernels get their chunk boundaries wrong. The default grid stops at a few
hundred elements; ``--conformance-profile scale`` (``python -m conformance --profile scale``)
checks the cases of :data:`SPECS` instead, at sizes where one float32 input is gigabytes.

Nothing here holds a whole tensor in float64. The inputs are drawn chunk by chunk straight into
tensors of the case dtype on the case's device (the same values on every device and every run:
chunk ``k`` of stream ``s`` draws from ``default_rng([seed, s, k])``). The target is called once
on the whole tensors, as a user would. The reference then runs on slices of about
:data:`CHECK_ELEMENTS` float64 elements along the input's first dimension, in a few threads,
and each slice of the target's result (its output for ``reduction="none"``, its gradient) is
read back to NumPy and compared on its own: a reduced output is the sum of the slices'
``"sum"`` losses, divided for ``"mean"`` by the spec's :attr:`ScaleSpec.divisor` (the
reference's own ``mean`` denominator, stated once per function; ``tests/test_scale.py`` checks
the slices against the reference on whole arrays), and the gradient of a ``"mean"`` is the
slices' ``"sum"`` gradients under ``grad_output / divisor``. Inputs are checked unchanged by a
CRC of each slice's bits, not by a copy.

The budget is the tolerance policy's (``conformance/compare.py``), grown for an input of ``n``
elements as the grid's is (in float16 and bfloat16 only a float32 accumulation term grows), with
one difference: the normwise floor ``atol * scale`` and the scale-error check take each slice on its
own, which is at least as strict.

Shapes per device: ``cpu`` is what fits this project's 24 GiB machine (peak under 16 GiB);
``cuda`` (any accelerator) the full production shape and shapes past 2**31 elements; ``smoke``
(``--conformance-profile scale-smoke``) tiny shapes through the same code, for CI.
"""

import math
import os
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch

from . import divergences, domains, guard, ids
from .adapters import Failure, TorchAdapter
from .cases import Drawn
from .compare import TOLERANCES, compare
from .harness import Outcome, call_target, reference_function
from .registry import REGISTRY, Call, Gen
from .tensors import TORCH_DTYPES, as_bits

PROFILES = ("scale", "scale-smoke")
CHECK_ELEMENTS = 1 << 24  # float64 elements of one slice the reference works on (128 MiB)
DRAW_ELEMENTS = 1 << 22  # elements drawn per generator call
# The smoke profile's tiny shapes still pass through many slices and draws, so CI exercises both.
SMOKE_CHECK_ELEMENTS, SMOKE_DRAW_ELEMENTS = 1 << 9, 1 << 8
THREADS = max(1, min(os.cpu_count() or 1, 8))  # slices in flight (each holds a few slice-sized arrays)
# CONFORMANCE_SCALE_SAMPLE=K compares K slices of each gradient and unreduced output, spread over the
# tensor (the first and the last among them), instead of all: on a GPU the NumPy reference is the
# bottleneck (about a minute per round at full scale). A reduced output always sums every slice.
SAMPLE = int(os.environ.get("CONFORMANCE_SCALE_SAMPLE", "0") or 0)
POSITIVE = Gen("positive")


# --- drawing the inputs, chunk by chunk, into tensors of the case dtype on its device --------------


def _fill(case, shape, dtype, stream, draw):
    """A tensor of ``shape`` in ``dtype`` on the case's device, drawn along its first dimension in
    chunks of about DRAW_ELEMENTS: ``draw(rng, chunk_shape)`` returns a NumPy array of the chunk."""
    seed, device = case.seed, case.device
    out = torch.empty(shape, dtype=dtype, device=device)
    if not shape:
        out.copy_(torch.from_numpy(np.asarray(draw(np.random.default_rng([seed, stream, 0]), ()))))
        return out
    row = math.prod(shape[1:])
    rows = max(1, (SMOKE_DRAW_ELEMENTS if case.profile == "scale-smoke" else DRAW_ELEMENTS) // max(row, 1))
    for k, start in enumerate(range(0, shape[0], rows)):
        stop = min(start + rows, shape[0])
        values = draw(np.random.default_rng([seed, stream, k]), (stop - start, *shape[1:]))
        out[start:stop].copy_(torch.from_numpy(np.ascontiguousarray(values)))
    return out


def _logits(rng, shape):
    return rng.standard_normal(shape, dtype=np.float32) * np.float32(2.0)


def _log_probabilities(rng, shape):
    x = rng.standard_normal(shape) * 2.0
    return x - np.logaddexp.reduce(x, axis=-1, keepdims=True)


def _probabilities(rng, shape):
    return rng.random(shape, dtype=np.float32)


def _positive(rng, shape):
    return rng.uniform(0.5, 2.0, shape)


def _classes(n_classes, ignore=None, low=0):
    """Class indices in ``[low, n_classes)``, one in 16 replaced by ``ignore`` when given."""

    def draw(rng, shape):
        y = rng.integers(low, n_classes, shape, dtype=np.int64)
        if ignore is not None:
            y[rng.random(shape) < 1 / 16] = ignore
        return y

    return draw


# --- the profile's cases --------------------------------------------------------------------------


@dataclass(frozen=True)
class ScaleSpec:
    """One production-shape case of ``function``: ``shapes`` per device kind (``cpu``, ``cuda`` for
    any accelerator, ``smoke``), the dtypes, the non-default options (in torch's keyword order),
    ``build(case) -> (arguments by torch name, number passed positionally)`` of tensors on the case's
    device, the arguments sliced with the input along its first dimension (``rows``; empty: the
    reference runs on the whole call), the reference's ``"mean"`` denominator as a function of the
    NumPy arguments of the whole call, and what the case is for."""

    function: str
    shapes: dict
    dtypes: tuple
    options: tuple
    build: Callable
    rows: tuple
    divisor: Callable | None
    why: str


def _option(case, name, default=None):
    return dict(case.options).get(name, default)


def _cross_entropy(case):
    n_classes = case.shape[1]
    ignore = _option(case, "ignore_index")
    tensors = {"input": _fill(case, case.shape, case.torch_dtype, 0, _logits),
               "target": _fill(case, (case.shape[0], *case.shape[2:]), torch.int64, 1, _classes(n_classes, ignore))}
    if _option(case, "weight") is not None:
        tensors["weight"] = _fill(case, (n_classes,), case.torch_dtype, 2, _positive)
    return {**tensors, **{k: v for k, v in case.options if k != "weight"}}, 2


def _cross_entropy_divisor(arguments):
    """``"mean"``: the sum of the weights of the kept targets (their count without weights)."""
    y = arguments["target"]
    kept = y != arguments.get("ignore_index", -100)
    weight = arguments.get("weight")
    return float(np.sum(weight[y[kept]])) if weight is not None else float(np.count_nonzero(kept))


def _bce_with_logits(case):
    tensors = {"input": _fill(case, case.shape, case.torch_dtype, 0, _logits),
               "target": _fill(case, case.shape, case.torch_dtype, 1, _probabilities)}
    if _option(case, "pos_weight") is not None:
        tensors["pos_weight"] = _fill(case, case.shape[-1:], case.torch_dtype, 2, _positive)
    return tensors, 2


def _kl_div(case):
    tensors = {"input": _fill(case, case.shape, case.torch_dtype, 0, _log_probabilities),
               "target": _fill(case, case.shape, case.torch_dtype, 1, _log_probabilities)}
    return {**tensors, **dict(case.options)}, 2


def _ctc_loss(case):
    frames, batch, n_classes = case.shape
    longest = min(frames // 3, 300)
    rng = np.random.default_rng([case.seed, 3])
    input_lengths = np.where(np.arange(batch) % 2 == 0, frames, rng.integers(frames // 2, frames, batch))
    target_lengths = rng.integers(longest // 2, longest + 1, batch)
    log_probs = _fill(case, case.shape, case.torch_dtype, 0, _log_probabilities)
    targets = _fill(case, (batch, longest), torch.int64, 1, _classes(n_classes, low=1))
    return {"log_probs": log_probs, "targets": targets,
            "input_lengths": torch.from_numpy(input_lengths.astype(np.int64)).to(case.device),
            "target_lengths": torch.from_numpy(target_lengths.astype(np.int64)).to(case.device),
            **dict(case.options)}, 4


LLM_VOCABULARY = 128256  # Llama 3's
SPECS = (
    ScaleSpec("cross_entropy", {"cpu": (4096, LLM_VOCABULARY), "cuda": (8192, LLM_VOCABULARY), "smoke": (37, 300)},
              ("float32", "bfloat16"), (), _cross_entropy, ("input", "target"), _cross_entropy_divisor,
              "an LLM's loss over its vocabulary: a 128256-term log-sum-exp per row and a mean over the rows"),
    ScaleSpec("cross_entropy", {"cpu": (4096, LLM_VOCABULARY), "cuda": (8192, LLM_VOCABULARY), "smoke": (37, 300)},
              ("float32", "bfloat16"), (("weight", POSITIVE), ("ignore_index", 7), ("label_smoothing", 0.1)),
              _cross_entropy, ("input", "target"), _cross_entropy_divisor,
              "the same with class weights, an ignored class and label smoothing: the weighted mean's "
              "denominator and the smoothing term's sum over the vocabulary at scale"),
    ScaleSpec("cross_entropy", {"cpu": (8, 21, 512, 512), "cuda": (8, 21, 512, 512), "smoke": (2, 5, 7, 9)},
              ("float32",), (("weight", POSITIVE), ("ignore_index", 255)), _cross_entropy, ("input", "target"),
              _cross_entropy_divisor,
              "K-dimensional (segmentation: 21 classes, 512 x 512, the void label 255 ignored): the class axis "
              "is not the last, so every class is 262144 elements apart"),
    ScaleSpec("cross_entropy", {"cuda": (16896, LLM_VOCABULARY), "smoke": (9, 301)}, ("bfloat16",), (),
              _cross_entropy, ("input", "target"), _cross_entropy_divisor,
              "2,167,005,696 elements, past 2**31: 32-bit offsets overflow here"),
    ScaleSpec("binary_cross_entropy_with_logits", {"cpu": (8192, 16384), "cuda": (8192, 16384), "smoke": (41, 64)},
              ("float32", "bfloat16"), (("pos_weight", POSITIVE),), _bce_with_logits, ("input", "target"),
              lambda arguments: float(arguments["input"].size),
              "2**27 elements in one mean: a long reduction"),
    ScaleSpec("binary_cross_entropy_with_logits", {"cuda": (131136, 16384), "smoke": (17, 64)}, ("float32",), (),
              _bce_with_logits, ("input", "target"), lambda arguments: float(arguments["input"].size),
              "2**31 + 2**20 elements: past 2**31, in one mean"),
    ScaleSpec("kl_div", {"cpu": (2048, LLM_VOCABULARY), "cuda": (8192, LLM_VOCABULARY), "smoke": (23, 300)},
              ("float32", "bfloat16"), (("reduction", "batchmean"), ("log_target", True)), _kl_div,
              ("input", "target"), lambda arguments: float(arguments["input"].shape[0]),
              "distillation: a student's and a teacher's log-probabilities over an LLM vocabulary, batchmean"),
    ScaleSpec("ctc_loss", {"cpu": (1000, 8, 64), "cuda": (1000, 16, 64), "smoke": (30, 3, 6)},
              ("float32", "float64"), (), _ctc_loss, (), None,
              "T = 1000 frames, targets up to 300 labels: the alpha-beta recursion's long products in log space"),
)


@dataclass(frozen=True)
class ScaleCase(Drawn):
    """One case of the scale profile, with an id like a grid case's: ``cross_entropy(float32,
    (4096, 128256), profile='scale')``."""

    spec_index: int
    dtype: str
    shape: tuple
    profile: str = "scale"
    device: str = "cpu"

    @property
    def spec(self):
        return SPECS[self.spec_index]

    @property
    def function(self):
        return self.spec.function

    @property
    def options(self):
        return self.spec.options

    @property
    def torch_dtype(self):
        return TORCH_DTYPES[self.dtype]

    @cached_property
    def data_id(self):
        parts = [self.dtype, repr(tuple(self.shape)), *(f"{k}={v!r}" for k, v in self.options),
                 f"profile={self.profile!r}"]
        return f"{self.function}({', '.join(parts)})"

    def elements(self):
        return math.prod(self.shape)


def _kind(device):
    return "cpu" if torch.device(device).type == "cpu" else "cuda"


def cases(profile="scale", functions=None, dtypes=None, devices=("cpu",)):
    """The profile's cases (``profile`` "scale" or "scale-smoke"), in :data:`SPECS` order."""
    out = []
    for device in devices:
        for index, spec in enumerate(SPECS):
            shape = spec.shapes.get("smoke" if profile == "scale-smoke" else _kind(device))
            if shape is None or (functions is not None and spec.function not in functions):
                continue
            out += [ScaleCase(index, dtype, tuple(shape), profile, device) for dtype in spec.dtypes
                    if dtypes is None or dtype in dtypes]
    return out


def find(case_id):
    """The scale case with this id."""
    device = ids.device_of(case_id)
    profile = "scale-smoke" if "profile='scale-smoke'" in case_id else "scale"
    for case in cases(profile, devices=(device,)):
        if case.id == case_id:
            return case
    raise KeyError(f"no scale case with id {case_id!r}")


def materialize(case_id):
    """The torch arguments of a scale case, from its id: ``args, kwargs = materialize(id)``."""
    case = find(case_id)
    return Call(*case.spec.build(case)).split()


# --- the reference, slice by slice -----------------------------------------------------------------


def _numpy(value):
    """float64 NumPy values of a tensor (integers keep their dtype); anything else as it is."""
    if not isinstance(value, torch.Tensor):
        return value
    value = value.detach()
    return value.to("cpu", torch.float64).numpy() if value.is_floating_point() else value.cpu().numpy()


def _slices(case, arguments):
    """``(start, stop)`` along the first dimension of the input, about CHECK_ELEMENTS each;
    one slice of everything when the spec slices nothing."""
    first = arguments[next(iter(arguments))]
    if not case.spec.rows or first.dim() == 0:
        return [(0, None)]
    elements = SMOKE_CHECK_ELEMENTS if case.profile == "scale-smoke" else CHECK_ELEMENTS
    rows = max(1, elements // max(math.prod(first.shape[1:]), 1))
    return [(start, min(start + rows, first.shape[0])) for start in range(0, first.shape[0], rows)]


def _slice_arguments(case, arguments, whole, start, stop):
    """NumPy arguments of one slice (``stop`` None: the whole call): the ``rows`` arguments sliced,
    the others from ``whole``."""
    return {name: (_numpy(value if stop is None else value[start:stop]) if name in case.spec.rows else whole[name])
            for name, value in arguments.items()}


def _sampled(spans):
    """The slices compared (all of them unless CONFORMANCE_SCALE_SAMPLE is set)."""
    if not SAMPLE or len(spans) <= SAMPLE:
        return spans
    picked = sorted({round(i * (len(spans) - 1) / (SAMPLE - 1)) for i in range(SAMPLE)}) if SAMPLE > 1 else [0]
    return [spans[i] for i in picked]


def _map(function, items):
    """``[function(item) for item in items]``, THREADS at a time (NumPy and torch's copies release the GIL)."""
    if THREADS == 1 or len(items) == 1:
        return [function(item) for item in items]
    with ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(function, items))


class _Worst:
    """The first failing slice's message and the worst errors over all slices."""

    def __init__(self):
        self.max_ulp = self.max_rel = 0.0
        self.problems = []

    def add(self, comparison, start):
        self.max_ulp, self.max_rel = max(self.max_ulp, comparison.max_ulp), max(self.max_rel, comparison.max_rel)
        if not comparison.ok and not self.problems:
            message = comparison.message
            if start and comparison.index:  # the slice's index as the whole tensor's
                index = (comparison.index[0] + start, *comparison.index[1:])
                message = message.replace(f"at index {comparison.index}", f"at index {index}", 1)
            self.problems.append(message)


def _crc(tensor, start, stop):
    return zlib.crc32(np.ascontiguousarray(as_bits(tensor[start:stop]).cpu().numpy()))


def _fingerprints(case, arguments):
    """A CRC of each slice of each tensor argument (inputs modified in place are found without a copy)."""
    spans = _slices(case, arguments)
    return {name: [_crc(value, *(span if name in case.spec.rows else (0, None))) for span in spans]
            for name, value in arguments.items() if isinstance(value, torch.Tensor)}


def _unavailable(case, target):
    if not isinstance(target.adapter, TorchAdapter):
        return (f"the scale profile calls targets with torch tensors; the adapter {target.adapter.name!r} "
                "takes arrays (check its losses at scale through a torch-speaking port)")
    return target.unavailable(case.function, case.device, case.dtype)


class _Threads:
    """torch's intra-op threads at the host's count for a scale check (the worker runs tiny cases at one)."""

    def __enter__(self):
        self.before = torch.get_num_threads()
        torch.set_num_threads(os.cpu_count() or 1)

    def __exit__(self, *exc):
        torch.set_num_threads(self.before)


def _compare(actual, expected, case, target, check, what="output"):
    """The tolerance policy's comparison, grown for an input of the case's ``n`` elements (narrowed
    by the target's accuracy record for the ``check``, forward or backward, as in the grid)."""
    tolerance = divergences.narrowed(TOLERANCES[case.dtype], target, check, case.id)
    return compare(actual, expected, case.dtype, tolerance, what=what, terms=case.elements())


def _fail(problems, case, check, target):
    """The problems, then how to rerun: the call over the case's tensors (rebuilt from its id) and
    the command that reruns this one check."""
    return "\n".join(problems) + "\n" + reproduction(check, case, target)


def reproduction(check, case, target):
    """The ``call:`` and ``rerun:`` lines of a scale check, without running it."""
    call = (f"call: from conformance.scale import materialize; args, kwargs = materialize({case.id!r}); "
            f"F.{case.function}(*args, **kwargs)")
    rerun = ids.rerun(ids.node(check, case.id), target, case.device, case.profile)
    return f"{call}\nrerun: {rerun}"


def _call(case, arguments, positional, target):
    """The target's function behind torch's calling convention, and the call's ``args, kwargs``."""
    call = Call(arguments, positional)
    return (target.port(case.function, call), *call.split())


def _prepare(case, target):
    """``((adapter, arguments, positional), None)``, or ``(None, skipped Outcome)``: the target
    cannot run the case, or its Signature drops an option the case sets."""
    reason = _unavailable(case, target)
    if reason:
        return None, Outcome("skipped", reason)
    arguments, positional = case.spec.build(case)
    reason = target.signature(case.function).unsupported(arguments)
    if reason:
        return None, Outcome("skipped", reason)
    return (target.adapter.on(case.device), arguments, positional), None


def check_scale_forward(case, target):
    """Forward value, shape, dtype and device at scale, and that no input was modified in place."""
    with _Threads():
        prepared, skipped = _prepare(case, target)
        if skipped:
            return skipped
        adapter, arguments, positional = prepared
        before = _fingerprints(case, arguments)
        fn, args, kwargs = _call(case, arguments, positional, target)
        out, error = call_target(adapter, fn, args, kwargs)
        if error:
            return Outcome("failed", _fail([error], case, "scale_forward", target))
        problems = adapter.result_problems(out, case.dtype)
        worst = _Worst()
        if not problems:
            _compare_forward(case, arguments, out, worst, target)
            problems += worst.problems
        del out
        after = _fingerprints(case, arguments)
        problems += [f"input {name!r} was modified in place" for name in before if before[name] != after[name]]
    if problems:
        return Outcome("failed", _fail(problems, case, "scale_forward", target), worst.max_ulp, worst.max_rel)
    return Outcome("passed", "", worst.max_ulp, worst.max_rel)


class _Lazy(dict):
    """The NumPy values of a call's arguments, each converted when first read; the input stands
    in by its shape alone (a zero-size broadcast), as a ``"mean"`` denominator reads no more of it."""

    def __init__(self, arguments):
        super().__init__()
        self.arguments = arguments

    def __missing__(self, name):
        value = self.arguments[name]
        if name == "input":
            value = np.broadcast_to(np.uint8(0), tuple(value.shape))
        else:
            value = _numpy(value)
        self[name] = value
        return value

    def get(self, name, default=None):
        return self[name] if name in self.arguments else default


def _compare_forward(case, arguments, out, worst, target):
    reduced = dict(case.options).get("reduction", "mean") != "none"
    if reduced and _slices(case, arguments) != [(0, None)]:
        worst.add(_compare(_numpy(out), reference_total(case, arguments), case, target, "forward"), 0)
    else:
        _compare_slices(case, arguments, out, worst, target)


def _compare_slices(case, arguments, actual, worst, target, what="output", grad_output=None):
    """Compare ``actual`` (the target's output, or with ``grad_output`` its gradient) slice by slice
    (a sample of them under CONFORMANCE_SCALE_SAMPLE) with :func:`reference_slice`."""
    whole = _whole(case, arguments)

    def one(span):
        start, stop = span
        expected = reference_slice(case, arguments, whole, span, grad_output)
        check = "forward" if grad_output is None else "backward"
        return _compare(_numpy(actual if stop is None else actual[start:stop]), expected, case, target, check,
                        what), start

    for result, start in _map(one, _sampled(_slices(case, arguments))):
        worst.add(result, start)


def reference_total(case, arguments):
    """The reference's reduced output (``"sum"``, ``"mean"``, ``"batchmean"``) of the whole call,
    from the slices: the sum of their ``"sum"`` losses, divided by the spec's divisor but for ``"sum"``."""
    whole = _whole(case, arguments)
    forward = reference_function(case.function)

    def partial(span):
        sliced = _slice_arguments(case, arguments, whole, *span)
        sliced["reduction"] = "sum"
        return float(forward(**sliced))

    total = math.fsum(_map(partial, _slices(case, arguments)))
    if dict(case.options).get("reduction", "mean") != "sum":
        total /= case.spec.divisor(_Lazy(arguments))
    return np.asarray(total)


def reference_slice(case, arguments, whole, span, grad_output=None):
    """The reference's output (``reduction="none"``) of one slice, or with ``grad_output`` the
    gradient of the input in that slice; ``whole``: :func:`_whole` of the call."""
    start, stop = span
    sliced = _slice_arguments(case, arguments, whole, start, stop)
    if grad_output is None:
        return reference_function(case.function)(**sliced)
    if stop is None:  # the whole call
        return reference_function(case.function, backward=True)(grad_output, **sliced)[_first(case)]
    reduction = dict(case.options).get("reduction", "mean")
    if reduction == "none":
        g = grad_output[start:stop]
    else:  # the gradient of sum / D is that of the sum under grad_output / D
        factor = 1.0 if reduction == "sum" else 1.0 / case.spec.divisor(_Lazy(arguments))
        sliced["reduction"] = "sum"
        g = np.asarray(grad_output * factor)
    return reference_function(case.function, backward=True)(g, **sliced)[_first(case)]


def _whole(case, arguments):
    """The NumPy values of the arguments the slices share (the sliced ones are None here: each slice
    converts its own part)."""
    return {name: (None if name in case.spec.rows else _numpy(value)) for name, value in arguments.items()}


def check_scale_backward(case, target):
    """The gradient of the input (``log_probs`` for ctc_loss) at scale, under a random ``grad_output``."""
    first = _first(case)
    with _Threads():
        prepared, skipped = _prepare(case, target)
        if skipped:
            return skipped
        adapter, arguments, positional = prepared
        arguments[first].requires_grad_()
        fn, args, kwargs = _call(case, arguments, positional, target)
        try:
            out = guard.in_target(adapter.call, fn, args, kwargs)
            problems = adapter.result_problems(out, case.dtype)
            if problems:
                return Outcome("failed", _fail(problems, case, "scale_backward", target))
            grad_output = domains.grad_output(case.rng(1), tuple(out.shape), case.dtype)
            g = torch.from_numpy(grad_output).to(case.device, case.torch_dtype)
            # Through the adapter, as in the grid; None is a zero gradient (torch.autograd's allow_unused).
            grads = guard.in_target(adapter.gradients, fn, (), {first: arguments[first]}, (first,), g, out) or {}
            grad = grads.get(first)
            if grad is None:
                grad = torch.zeros_like(arguments[first])
        except Failure as exc:
            return Outcome("failed", _fail([str(exc)], case, "scale_backward", target))
        except Exception as exc:
            return Outcome("failed", _fail([f"raised {type(exc).__name__}: {exc}"], case, "scale_backward", target))
        del out, args, kwargs, fn  # the graph's saved tensors go before the reference runs
        arguments[first] = arguments[first].detach()
        worst = _Worst()
        problems = adapter.result_problems(grad, case.dtype, what=f"grad of {first}")
        if not problems:
            _compare_slices(case, arguments, grad, worst, target, f"grad of {first}", grad_output)
            problems += worst.problems
    if problems:
        problems.append("grad_output: random (stream 1 of the case)")
        return Outcome("failed", _fail(problems, case, "scale_backward", target), worst.max_ulp, worst.max_rel)
    return Outcome("passed", "", worst.max_ulp, worst.max_rel)


def _first(case):
    """The argument whose gradient is checked: the function's first differentiable one (the
    input; ``log_probs`` for ctc_loss)."""
    return REGISTRY[case.function].differentiable[0]


CHECKS = {"scale_forward": check_scale_forward, "scale_backward": check_scale_backward}
