"""What the benchmarks time: the shapes of each function's size sweep, its inputs (drawn by the
spec's own generator), the contestants, the minimal-bytes model and the copy bandwidth that
achieved bandwidth is compared with.

Everything is keyed by the registry: a function added to ``conformance/specs/`` is benchmarked
with no change here. The tables below only refine what the registry cannot say (which shapes
are realistic at scale, what a user would write by hand).
"""

import math
import statistics
import time
import warnings

import numpy as np
import torch
import torch.nn.functional as F

import reference
from conformance.cases import Case
from conformance.harness import differentiable_args
from conformance.registry import REGISTRY
from conformance.tensors import TORCH_DTYPES, convert_call

MODES = ("forward", "forward+backward")
DTYPES = {"cpu": ("float32", "bfloat16"), "cuda": ("float32", "bfloat16", "float16")}

# Elements of the main input along the sweep: in cache; about L2-sized; beyond the cache. "large"
# is 4 M elements on the CPU (16 MB per float32 tensor, two of them fill the 32 MB L3 of the 2-core
# box, where the whole run must stay near 10 minutes) and 16 M on CUDA (64 MB per float32 tensor,
# past the H100/H200 L2 of 50/60 MB).
SWEEP = {"small": 2**12, "medium": 2**18, "large": 2**22}
CUDA_LARGE = 2**24

# Functions that reduce along rows of classes: a vocabulary-like sweep; cross_entropy adds the
# canonical 4096 x 32000 and, on CUDA, Llama-3's 8192 x 128256.
ROWWISE = ("cross_entropy", "nll_loss", "softmax", "log_softmax")
ROW_SHAPES = {"small": (32, 128), "medium": (256, 1024), "large": (512, 8192), "canonical": (4096, 32000),
              "llm": (8192, 128256)}
CUDA_ROW_LARGE = (1024, 16384)
# 4096 x 32000 costs tens of seconds per contestant on the CPU box: cross_entropy only. 8192 x 128256
# is 1.05 G elements, minutes to draw and time there: CUDA only.
EXTRA_SIZES = {"canonical": ("cross_entropy",), "llm": ("cross_entropy",)}
CUDA_ONLY_SIZES = ("llm",)

# Functions whose (N, C) input may be any size: a square sweep ((4096, 4096) = 16 M elements).
GRID = ("mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "binary_cross_entropy",
        "binary_cross_entropy_with_logits", "soft_margin_loss", "multilabel_soft_margin_loss", "kl_div",
        "poisson_nll_loss", "gaussian_nll_loss", "hinge_embedding_loss", "multi_margin_loss",
        "cosine_embedding_loss", "triplet_margin_loss", "triplet_margin_with_distance_loss")
GRID_SHAPES = {"small": (64, 64), "medium": (512, 512), "large": (2048, 2048)}
CUDA_GRID_LARGE = (4096, 4096)

# Options other than the defaults, where the default is not what a user would call.
OPTIONS = {"softmax": (("dim", -1),), "log_softmax": (("dim", -1),)}  # dim=None warns and guesses

# Above this many elements the spec draws a slice of the rows and the slice is tiled: NumPy
# draws ~25 M float64 normals per second here, so the canonical CE input alone would take 5 s.
TILE_ABOVE = 2**25


def _numel(shape):
    return math.prod(shape)


def _fallback_shapes(spec, sweep):
    """The spec's largest non-empty shape, its first (batch) dimension scaled to each sweep size."""
    shapes = [tuple(s) for s in spec.shapes if len(s) and 0 not in s]
    if not shapes:
        return {}
    base = max(shapes, key=_numel)
    return {label: (base[0] * max(1, round(n / _numel(base))),) + base[1:] for label, n in sweep.items()}


def sizes(function, device):
    """``{label: shape}`` of the function's sweep on ``device``, smallest first."""
    spec = REGISTRY[function]
    ndims = {len(s) for s in spec.shapes}
    cuda = device == "cuda"
    if function in ROWWISE and 2 in ndims:
        table = dict(ROW_SHAPES, **({"large": CUDA_ROW_LARGE} if cuda else {}))
    elif function in GRID and 2 in ndims:
        table = dict(GRID_SHAPES, **({"large": CUDA_GRID_LARGE} if cuda else {}))
    else:
        table = _fallback_shapes(spec, dict(SWEEP, **({"large": CUDA_LARGE} if cuda else {})))
    for label, functions in EXTRA_SIZES.items():
        if label in table and (function not in functions or (label in CUDA_ONLY_SIZES and not cuda)):
            del table[label]
    return table


def canonical(function, device="cpu"):
    """The size label at which torch.compile is benchmarked (and benchmarks/README.md's table is taken)."""
    return "canonical" if "canonical" in sizes(function, device) else "large"


class Workload:
    """The inputs of one function at one shape, drawn once by the spec's generator in float32
    (float64 arrays holding float32 values) and converted to each dtype and device on demand.

    The float32 draw serves every dtype: the benchmark needs realistic values, not the exact
    rounding the conformance cases use, and one draw saves seconds per dtype at large sizes.
    """

    def __init__(self, function, shape):
        self.function, self.shape = function, tuple(shape)
        self.spec = REGISTRY[function]
        options = OPTIONS.get(function, ())
        self.case = Case(function, "float32", self.shape, options)
        self.reps = 1
        if _numel(self.shape) > TILE_ABOVE:
            reps = math.ceil(_numel(self.shape) / TILE_ABOVE)
            rows = math.ceil(self.shape[0] / reps)
            base = Case(function, "float32", (rows,) + self.shape[1:], options)
            call = self.spec.sample(base.rng(), base)
            arrays = [v for v in call.args.values() if isinstance(v, np.ndarray) and v.ndim]
            if all(a.shape[0] == rows for a in arrays):  # every array is batched: tiling keeps it valid
                self.call, self.rows, self.reps = call, rows, math.ceil(self.shape[0] / rows)
        if self.reps == 1:
            self.call = self.spec.sample(self.case.rng(), self.case)
        self.grad_args = differentiable_args(self.spec, self.call)
        self._tensors, self._baseline = {}, {}
        self._numpy = None

    def _tile(self, value, repeat):
        if self.reps == 1 or not getattr(value, "ndim", 0) or value.shape[0] != self.rows:
            return value
        return repeat(value)[: self.shape[0]]

    def tensors(self, dtype, device):
        """``(args, kwargs)`` as torch sees them, detached; cached per dtype and device."""
        key = (dtype, device)
        if key not in self._tensors:
            args, kwargs, _ = convert_call(self.call, dtype, device)
            tile = lambda t: self._tile(t, lambda v: v.repeat(self.reps, *([1] * (v.ndim - 1))))
            self._tensors[key] = [tile(a) for a in args], {k: tile(v) for k, v in kwargs.items()}
        return self._tensors[key]

    def with_leaves(self, dtype, device):
        """``(args, kwargs, leaves)``: fresh leaves requiring grad for every differentiable input."""
        args, kwargs = self.tensors(dtype, device)
        names = list(self.call.args)
        values = [*args, *kwargs.values()]
        leaves = {}
        for i, name in enumerate(names):
            if name in self.grad_args:
                values[i] = leaves[name] = values[i].detach().requires_grad_()
        return values[: len(args)], dict(zip(names[len(args):], values[len(args):], strict=True)), leaves

    def numpy(self):
        """``(positional, keywords)`` for the reference: float64 arrays at full size."""
        if self._numpy is None:
            tile = lambda a: self._tile(a, lambda v: np.concatenate([v] * self.reps))
            positional, keywords = self.call.split()
            self._numpy = [tile(a) for a in positional], {k: tile(v) for k, v in keywords.items()}
        return self._numpy

    def baseline(self, dtype, device):
        """torch.nn.functional's forward output, float64 on the CPU, to check the other contestants."""
        key = (dtype, device)
        if key not in self._baseline:
            args, kwargs = self.tensors(dtype, device)
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out = getattr(F, self.function)(*args, **kwargs)
            self._baseline[key] = out.detach().to("cpu", torch.float64)
        return self._baseline[key]

    def grad_output(self, dtype, device):
        """A random ``grad_output`` shaped like the output, in ``[0.5, 1.5)`` (never ones: a
        kernel may skip the scaling then)."""
        shape = self.baseline(dtype, device).shape
        generator = torch.Generator().manual_seed(self.case.seed)
        g = torch.rand(shape, generator=generator, dtype=torch.float64) + 0.5
        return g.to(device=device, dtype=TORCH_DTYPES[dtype])


# -- contestants -------------------------------------------------------------------------------------------

def _class_dim(x):
    return 0 if x.dim() == 1 else 1


def _abs_diff(input, target):
    return (input - target).abs()


# What a user writes by hand, at the default options (the only ones benchmarked). Each is
# checked against torch.nn.functional on the benchmark's own inputs before it is timed.
COMPOSED = {
    "cross_entropy": ("log_softmax + nll_loss",
                      lambda input, target, **_: F.nll_loss(F.log_softmax(input, _class_dim(input)), target)),
    "nll_loss": ("-gather, masked mean", lambda input, target, ignore_index=-100, **_: (
        lambda kept: -torch.where(kept, input.gather(1, target.clamp(min=0).unsqueeze(1)).squeeze(1), 0).sum()
        / kept.sum())(target != ignore_index)),
    "softmax": ("exp / sum", lambda input, dim=-1, **_: (
        lambda e: e / e.sum(dim, keepdim=True))((input - input.amax(dim, keepdim=True)).exp())),
    "log_softmax": ("x - logsumexp", lambda input, dim=-1, **_: input - input.logsumexp(dim, keepdim=True)),
    "mse_loss": ("(x - t).pow(2).mean", lambda input, target, **_: (input - target).pow(2).mean()),
    "l1_loss": ("(x - t).abs.mean", lambda input, target, **_: _abs_diff(input, target).mean()),
    "smooth_l1_loss": ("where(d < 1, d^2 / 2, d - 1/2).mean", lambda input, target, **_: (
        lambda d: torch.where(d < 1, 0.5 * d * d, d - 0.5).mean())(_abs_diff(input, target))),
    "huber_loss": ("where(d < 1, d^2 / 2, d - 1/2).mean", lambda input, target, **_: (
        lambda d: torch.where(d < 1, 0.5 * d * d, d - 0.5).mean())(_abs_diff(input, target))),
    "binary_cross_entropy_with_logits": ("naive -(t log s(x) + (1 - t) log(1 - s(x)))", lambda input, target, **_: (
        lambda s: -(target * s.log() + (1 - target) * (1 - s).log()).mean())(torch.sigmoid(input))),
    "binary_cross_entropy": ("-(t log x + (1 - t) log(1 - x)), logs clamped at -100", lambda input, target, **_: -(
        target * input.log().clamp(min=-100) + (1 - target) * (1 - input).log().clamp(min=-100)).mean()),
    "kl_div": ("(xlogy(t, t) - t x).mean", lambda input, target, **_: (
        torch.xlogy(target, target) - target * input).mean()),
    "soft_margin_loss": ("log1p(exp(-t x)).mean", lambda input, target, **_: torch.log1p(
        torch.exp(-target * input)).mean()),
    "poisson_nll_loss": ("(exp(x) - t x).mean", lambda input, target, **_: (torch.exp(input) - target * input).mean()),
    "multilabel_soft_margin_loss": ("-(t logsigmoid(x) + (1 - t) logsigmoid(-x)).mean(-1).mean",
                                    lambda input, target, **_: -(target * F.logsigmoid(input) + (1 - target)
                                                                 * F.logsigmoid(-input)).mean(-1).mean()),
    "margin_ranking_loss": ("(-y (x1 - x2) + margin).clamp(min=0).mean",
                            lambda input1, input2, target, margin=0.0, **_: (
                                -target * (input1 - input2) + margin).clamp(min=0).mean()),
}


def composed(function):
    """``(description, fn)`` of the hand-written version, or None."""
    return COMPOSED.get(function)


def compiled(function):
    """torch.compile of the functional, fresh: dynamo caches per code object, and the many shapes
    and dtypes of one session would otherwise hit its recompile limit and fall back to eager."""
    torch._dynamo.reset()
    return torch.compile(getattr(F, function), dynamic=False, fullgraph=True)


def torch_runner(fn, args, kwargs, leaves=None, grad_output=None):
    """The timed body for a torch-level contestant: the forward, or the forward and the
    gradients of ``leaves`` (``autograd.grad``, so nothing accumulates into ``.grad``)."""
    if leaves is None:
        return lambda: fn(*args, **kwargs)
    inputs = list(leaves.values())

    def run():
        out = fn(*args, **kwargs)
        return out, torch.autograd.grad(out, inputs, grad_output)

    return run


def reference_runner(function, positional, keywords, grad_output=None):
    """The timed body for the NumPy reference (float64), forward or forward and backward."""
    forward = getattr(reference, function)
    if grad_output is None:
        return lambda: forward(*positional, **keywords)
    backward = getattr(reference, function + "_backward")
    return lambda: (forward(*positional, **keywords), backward(grad_output, *positional, **keywords))


# -- bytes and bandwidth -----------------------------------------------------------------------------------

def _nbytes(t):
    return t.numel() * t.element_size()


def min_bytes(args, kwargs, out, leaves=None):
    """Bytes any implementation must move: every input read once, the output written once; with
    the backward, also ``grad_output`` read once and each gradient written once (a fused kernel
    reads the input once for both passes)."""
    tensors = [t for t in [*args, *kwargs.values()] if isinstance(t, torch.Tensor)]
    total = sum(_nbytes(t) for t in tensors) + _nbytes(out)
    if leaves:
        total += _nbytes(out) + sum(_nbytes(t) for t in leaves.values())
    return total


def synchronize(device):
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def median_time(fn, device, budget=0.1, min_samples=5):
    """Median seconds per call of ``fn``, timed in blocks long enough for the clock, synchronizing
    the device at block boundaries."""
    fn()
    synchronize(device)
    start = time.perf_counter()
    fn()
    synchronize(device)
    once = time.perf_counter() - start
    inner = max(1, int(1e-4 / max(once, 1e-9)))  # blocks of >= 100 us
    samples, began = [], time.perf_counter()
    while len(samples) < min_samples or (time.perf_counter() - began < budget and len(samples) < 200):
        start = time.perf_counter()
        for _ in range(inner):
            fn()
        synchronize(device)
        samples.append((time.perf_counter() - start) / inner)
    return statistics.median(samples)


class CopyBandwidth:
    """Measured copy bandwidth (bytes read + bytes written per second), per device and size.

    ``gbps(device, nbytes)`` times ``dst.copy_(src)`` moving ``nbytes`` in all (``nbytes / 2``
    read and as many written), with ``nbytes / 2`` rounded to a power of two so that one
    measurement serves every benchmark within a factor of sqrt(2); cached for the session.
    """

    def __init__(self):
        self._cache = {}

    def gbps(self, device, nbytes):
        half = 2 ** max(6, round(math.log2(max(nbytes / 2, 1))))
        key = (device, half)
        if key not in self._cache:
            src = torch.randn(half // 4, device=device)
            dst = torch.empty_like(src)
            seconds = median_time(lambda: dst.copy_(src), device)
            self._cache[key] = 2 * half / seconds / 1e9
            del src, dst
        return self._cache[key]


def relative_error(actual, expected):
    """``||actual - expected|| / ||expected||`` in float64; inf when NaNs or infs disagree."""
    actual = torch.as_tensor(actual).detach().to("cpu", torch.float64).reshape(-1)
    expected = torch.as_tensor(expected).detach().to("cpu", torch.float64).reshape(-1)
    if actual.shape != expected.shape:
        return math.inf
    finite = torch.isfinite(expected)
    if not torch.equal(finite, torch.isfinite(actual)) or not torch.equal(actual[~finite].nan_to_num(),
                                                                          expected[~finite].nan_to_num()):
        return math.inf
    scale = expected[finite].norm().item()
    diff = (actual[finite] - expected[finite]).norm().item()
    return diff / scale if scale > 0 else diff


# Largest relative error of a contestant's forward output against torch's before its timing means
# nothing: float32 sums in another order land far below 1e-3; bfloat16/float16 intermediates of a
# composed version round to 2^-8 / 2^-11 per element, a few 1e-3 after a mean.
CHECK_TOLERANCE = {"float32": 1e-3, "bfloat16": 5e-2, "float16": 1e-2}

DTYPE_OF = TORCH_DTYPES
