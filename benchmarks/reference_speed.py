"""How long the float64 NumPy reference takes, forward + backward, beside torch's float64 CPU kernels.

    python benchmarks/reference_speed.py            # about 2**22 elements per function, best of 5
    python benchmarks/reference_speed.py --quick    # tiny shapes, one round: a smoke test
    python benchmarks/reference_speed.py --function cross_entropy,ctc_loss --rounds 9

For every function of ``conformance.registry.REGISTRY``, at its default options, three
contestants run on the same inputs, alternating within each round, and each keeps its best
time over the rounds:

* ``reference``: ``reference.f(...)`` then ``reference.f_backward(grad_output, ...)``, two
  independent calls, as a porter makes them;
* ``torch``: ``F.f(...)`` then ``torch.autograd.grad`` of every differentiable input, in
  float64 on one thread (``torch.set_num_threads(1)``; NumPy's ufuncs are single-threaded);
* ``floor``: only the transcendental passes (``np.exp``, ``np.log``, ``np.log1p``,
  ``np.logaddexp``) that the formula cannot avoid in the two calls, on the same data (see
  ``FLOORS``); none for functions without one.

A function meets the goal when the reference takes at most 1.5x torch's time, or, where NumPy's
transcendentals alone make that out of reach, at most 1.2x the floor. Before timing, the
reference's forward and gradients are checked against torch's (normwise relative error below
1e-9), so a fast wrong reference cannot pass. ``--module`` times another copy of the reference
(an older revision on ``PYTHONPATH``, say) under the same conditions.
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one thread everywhere, before NumPy and torch start their pools

import argparse  # noqa: E402
import importlib  # noqa: E402
import math  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from conformance.cases import Case  # noqa: E402
from conformance.harness import differentiable_args  # noqa: E402
from conformance.registry import REGISTRY, Call  # noqa: E402
from conformance.tensors import convert_call  # noqa: E402

MAX_RATIO_TO_TORCH = 1.5
MAX_RATIO_TO_FLOOR = 1.2
CHECK_RTOL = 1e-9

# The main input's shape, about 2**22 elements; --quick uses QUICK_SHAPES. Functions not named
# here scale the first dimension of their spec's largest shape to 2**22 elements.
ROWS = (4096, 1024)
GRID = (2048, 2048)
SHAPES = {
    "softmax": ROWS, "log_softmax": ROWS, "cross_entropy": ROWS, "nll_loss": ROWS,
    "multi_margin_loss": ROWS, "cosine_embedding_loss": ROWS,
    "triplet_margin_loss": ROWS, "triplet_margin_with_distance_loss": ROWS,
    # torch's kernel loops over labels x classes per sample (C / 2 labels on average here):
    # (4096, 1024) takes it 11 s, (65536, 64) 1.3 s
    "multilabel_margin_loss": (65536, 64),
    "ctc_loss": (256, 64, 256),  # (T, N, C)
}
QUICK_SHAPES = {"ctc_loss": (12, 3, 6), "multilabel_margin_loss": (8, 6)}
QUICK_DEFAULT = (8, 6)
OPTIONS = {"softmax": (("dim", -1),), "log_softmax": (("dim", -1),)}  # dim=None warns and guesses


def shape_of(function, quick):
    if quick:
        return QUICK_SHAPES.get(function, QUICK_DEFAULT if _is_2d(function) else (16,))
    if function in SHAPES:
        return SHAPES[function]
    spec = REGISTRY[function]
    if _is_2d(function):
        return GRID
    base = max((tuple(s) for s in spec.shapes if len(s) and 0 not in s), key=math.prod)
    return (base[0] * max(1, round(2**22 / math.prod(base))),) + base[1:]


def _is_2d(function):
    return any(len(s) == 2 for s in REGISTRY[function].shapes)


def _ctc_call(rng, shape):
    """Realistic CTC inputs (the spec's sampler keeps targets at 4 labels or fewer): normalized
    log-probabilities, blank 0, target lengths in [T/8, T/4], input lengths in [3T/4, T]."""
    n_frames, n, n_classes = shape
    logits = rng.standard_normal(shape) * 2.0
    log_probs = logits - np.log(np.sum(np.exp(logits), axis=-1, keepdims=True))
    target_lengths = rng.integers(max(1, n_frames // 8), max(1, n_frames // 4) + 1, size=n)
    input_lengths = rng.integers(3 * n_frames // 4, n_frames + 1, size=n)
    input_lengths[0] = n_frames
    targets = rng.integers(1, n_classes, size=(n, int(target_lengths.max())))
    return Call({"log_probs": log_probs, "targets": targets, "input_lengths": input_lengths,
                 "target_lengths": target_lengths, "blank": 0, "reduction": "mean", "zero_infinity": False},
                positional=4)


def build_call(function, shape):
    """The function's inputs at ``shape``, drawn by its spec's own generator (float64 values)."""
    case = Case(function, "float64", tuple(shape), OPTIONS.get(function, ()))
    if function == "ctc_loss":
        return case, _ctc_call(case.rng(), shape)
    return case, REGISTRY[function].sample(case.rng(), case)


# -- the floor: the transcendental passes of the forward call and of the backward call -----------
#
# Each entry returns the passes, ``(ufunc, *operands)``, that the formula cannot avoid in the two
# calls, with operands computed beforehand from the same inputs; the floor is their time.


def _logits_passes(positional, keywords, log_per_row):
    x = positional[0]
    passes = [(np.exp, x)]  # forward: exp over every logit (x - max in the reference; the same cost)
    if log_per_row:
        passes.append((np.log, np.sum(np.exp(x - np.max(x, axis=-1, keepdims=True)), axis=-1)))  # log-sum-exp
    return passes + [(np.exp, x)]  # backward: the softmax, again one exp per logit


def _softplus_passes(z):
    """softplus(±z) = max(±z, 0) + log1p(exp(-|z|)) in the forward; sigmoid's exp(-|z|) in the backward."""
    a = -np.abs(z)
    return [(np.exp, a), (np.log1p, np.exp(a)), (np.exp, a)]


def _ctc_passes(positional, keywords):
    """One log-space recursion (alpha) in the forward call and two (alpha, beta) in the backward
    call, each taking a logaddexp per state and frame (stay or advance) and one more per label
    state (skip); then the gradient's exp over each state's alpha + beta (the per-class sums) and
    twice over every log-probability (the dense posterior term and torch's exp(x)). The
    logaddexp run on the reference's own alpha and beta, whose -inf entries make them cheaper,
    as whole arrays: without the recursion's per-frame steps."""
    from reference import ctc

    x, _, skip, last, lp, alpha, _, lengths, _, _ = ctc._forward(*positional, keywords.get("blank", 0))
    beta = ctc._log_beta(lp, skip, last, lengths)
    passes = []
    for v, k in ((alpha, 1), (alpha, 1), (beta, -1)):
        passes += [(np.logaddexp, v, ctc._shift(v, k)), (np.logaddexp, v[..., 1::2], ctc._shift(v[..., 1::2], k))]
    return passes + [(np.exp, alpha + beta), (np.exp, x), (np.exp, x)]


FLOORS = {
    "softmax": lambda pos, kw: _logits_passes(pos, kw, log_per_row=False),
    "log_softmax": lambda pos, kw: _logits_passes(pos, kw, log_per_row=True),
    "cross_entropy": lambda pos, kw: _logits_passes(pos, kw, log_per_row=True),
    # log p and log1p(-p) in the forward, and again for the target's gradient (the logit)
    "binary_cross_entropy": lambda pos, kw: [(np.log, pos[0]), (np.log1p, -pos[0])] * 2,
    "binary_cross_entropy_with_logits": lambda pos, kw: _softplus_passes(pos[0]),
    "soft_margin_loss": lambda pos, kw: _softplus_passes(-pos[1] * pos[0]),
    "multilabel_soft_margin_loss": lambda pos, kw: _softplus_passes(pos[0]),
    "kl_div": lambda pos, kw: [(np.log, pos[1])] * 2,  # xlogy(t, t) in the forward, its gradient log t
    "poisson_nll_loss": lambda pos, kw: [(np.exp, pos[0])] * 2,  # exp(x) in each call
    "gaussian_nll_loss": lambda pos, kw: [(np.log, pos[2])],  # log var in the forward only
    "ctc_loss": _ctc_passes,
}


def floor_body(function, positional, keywords):
    """The floor's timed body, or None for a function with no transcendental pass."""
    if function not in FLOORS:
        return None
    passes = FLOORS[function](positional, keywords)

    def run():
        for fn, *operands in passes:
            fn(*operands)
    return run


# -- contestants ------------------------------------------------------------------------------------


def contestants(function, call, module):
    """``{name: body}`` of the three contestants, and a check of the reference against torch."""
    spec = REGISTRY[function]
    grad_args = differentiable_args(spec, call)
    args, kwargs, leaves = convert_call(call, "float64", "cpu", grad_args)
    torch_f = getattr(F, function)
    with torch.no_grad():
        shape = torch_f(*args, **kwargs).shape
    grad_output = torch.rand(shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64) + 0.5
    inputs = list(leaves.values())

    def run_torch():
        out = torch_f(*args, **kwargs)
        return out, torch.autograd.grad(out, inputs, grad_output)

    positional, keywords = call.split()
    forward, backward = getattr(module, function), getattr(module, function + "_backward")
    g = grad_output.numpy()

    def run_reference():
        return forward(*positional, **keywords), backward(g, *positional, **keywords)

    bodies = {"reference": run_reference, "torch": run_torch}
    floor = floor_body(function, positional, keywords)
    if floor is not None:
        bodies["floor"] = floor
    return bodies, lambda: _check(run_reference, run_torch, list(leaves))


def _relative(actual, expected):
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    if actual.shape != expected.shape or not np.array_equal(np.isfinite(actual), np.isfinite(expected)):
        return math.inf
    finite = np.isfinite(expected)
    scale = np.linalg.norm(expected[finite])
    diff = np.linalg.norm(actual[finite] - expected[finite])
    return diff / scale if scale > 0 else diff


def _check(run_reference, run_torch, names):
    """The worst normwise relative error of the reference's forward and gradients against torch's."""
    (out, grads), (t_out, t_grads) = run_reference(), run_torch()
    errors = [_relative(out, t_out.detach().numpy())]
    errors += [_relative(grads[name], t.numpy()) for name, t in zip(names, t_grads, strict=True)]
    return max(errors)


def pin_malloc():
    """Pin glibc's mmap threshold at its initial 128 KiB, which turns off its adaptation.

    At these sizes page faults cost as much as the arithmetic (a fresh 32 MiB array takes 8192
    of them, about 25 ms here), and whether an allocation gets fresh pages or memory that is
    already touched depends, with the adaptive threshold, on what was freed before: the same
    torch call varied 4x with the history of the process. Pinned, every array of 128 KiB or
    more is freshly mapped, for both contestants, as an array of 32 MiB or more always is.
    Returns whether it could (glibc only)."""
    try:
        import ctypes

        return bool(ctypes.CDLL("libc.so.6").mallopt(-3, 128 * 1024))  # M_MMAP_THRESHOLD
    except (OSError, AttributeError):
        return False


def best_times(bodies, rounds):
    """Best seconds per call of each body, the contestants alternating within each round."""
    best = dict.fromkeys(bodies, math.inf)
    for body in bodies.values():
        body()  # warm-up: page faults of first allocations, lazy initialization
    for _ in range(rounds):
        for name, body in bodies.items():
            start = time.perf_counter()
            body()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


# -- the table --------------------------------------------------------------------------------------


def _seconds(value):
    return "—" if value is None else f"{value:.4f}" if value < 10 else f"{value:.2f}"


def _ratio(a, b):
    return None if a is None or b is None else a / b


def row(function, shape, times):
    ref, tor, floor = times["reference"], times["torch"], times.get("floor")
    to_torch, to_floor = _ratio(ref, tor), _ratio(ref, floor)
    if to_torch <= MAX_RATIO_TO_TORCH:
        meets = "yes"
    elif to_floor is not None and to_floor <= MAX_RATIO_TO_FLOOR:
        meets = "yes (floor)"
    else:
        meets = "**no**"
    return (f"| {function} | {tuple(shape)} | {_seconds(ref)} | {_seconds(tor)} | {_seconds(floor)} | "
            f"{to_torch:.2f} | {'—' if to_floor is None else f'{to_floor:.2f}'} | {meets} |"), meets != "**no**"


HEADER = ("| function | shape | reference s | torch s | floor s | reference/torch | reference/floor | meets |\n"
          "|---|---|---|---|---|---|---|---|")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny shapes and one round: a smoke test")
    parser.add_argument("--rounds", type=int, default=None, help="timed rounds per contestant (default 5; 1 quick)")
    parser.add_argument("--function", default=None, help="comma-separated registry names (default: all)")
    parser.add_argument("--module", default="reference", help="the reference module to time (default: reference)")
    parser.add_argument("--adaptive-malloc", action="store_true",
                        help="leave glibc's mmap threshold adaptive (timings then depend on what ran before)")
    options = parser.parse_args(argv)
    rounds = options.rounds or (1 if options.quick else 5)
    functions = list(REGISTRY)
    if options.function:
        from conformance.registry import select_functions
        try:
            functions = list(select_functions(options.function))
        except ValueError as exc:
            parser.error(str(exc))
    module = importlib.import_module(options.module)
    torch.set_num_threads(1)
    pinned = not options.adaptive_malloc and pin_malloc()

    print(f"torch {torch.__version__}, numpy {np.__version__}, module {options.module}, "
          f"{'quick, ' if options.quick else ''}best of {rounds}, 1 thread, "
          f"mmap threshold {'pinned at 128 KiB' if pinned else 'adaptive'}", flush=True)
    print(HEADER, flush=True)
    failures = []
    for function in functions:
        shape = shape_of(function, options.quick)
        _, call = build_call(function, shape)
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")  # kl_div's "mean" warning, broadcasting warnings
            bodies, check = contestants(function, call, module)
            error = check()
            times = best_times(bodies, rounds)
        line, met = row(function, shape, times)
        if not error <= CHECK_RTOL:
            line += f" reference differs from torch: relative error {error:.3g}"
            failures.append(function)
        print(line, flush=True)
        del bodies, call
    if failures:
        print(f"reference and torch disagree on: {', '.join(failures)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
