"""One benchmark per (function, shape, dtype, device, mode, contestant); contestants of one call
share a group, so pytest-benchmark's table puts them side by side.

Contestants: ``torch`` (torch.nn.functional), ``composed`` (what a user writes by hand, where
workloads.COMPOSED has it), ``compile`` (torch.compile of the functional, at the canonical shape),
``reference`` (the float64 NumPy reference, CPU only: the cost of using the spec directly) and
``target`` (the ``--target`` implementation, when one is given).

Each result's ``extra_info`` holds the shape, dtype, device, the minimal bytes (inputs read
once, output written once, gradients written once), achieved GB/s at the median time, the copy
bandwidth measured in this run for the same number of bytes and the fraction of it achieved.
"""

import math
import os
import time

import pytest
import torch

from . import workloads as w

# A call slower than this is timed in explicit rounds instead of pytest-benchmark's calibration
# (which adds a calibration call and a result call), and its rounds stop at SLOW_BUDGET seconds.
SLOW_CALL = 0.05
SLOW_BUDGET = float(os.environ.get("BENCH_SLOW_BUDGET", "3.0"))  # raise it for tables worth quoting
# Untimed calls before timing: at most WARMUP_CALLS, stopping once WARMUP_BUDGET seconds are spent.
WARMUP_CALLS = 6
WARMUP_BUDGET = 0.25

_current = {}


def _workload(function, shape):
    """The single live workload: inputs of large shapes are GBs, so the previous one is dropped."""
    key = (function, shape)
    if key not in _current:
        _current.clear()
        try:
            _current[key] = w.Workload(function, shape)
        except Exception as exc:  # a spec whose generator cannot scale to this shape
            pytest.skip(f"the spec's generator failed at {shape}: {type(exc).__name__}: {exc}")
    return _current[key]


def _build(workload, dtype, device, mode, contestant, target_module):
    """``(run, extra)``: the timed body and what to record about it."""
    function, extra = workload.function, {}
    if contestant == "reference":
        positional, keywords = workload.numpy()
        grad_output = None
        if mode == "forward+backward":
            if not workload.grad_args:
                pytest.skip("no differentiable floating-point input")
            grad_output = workload.grad_output(dtype, "cpu").to(torch.float64).numpy()
        return w.reference_runner(function, positional, keywords, grad_output), extra
    if contestant == "torch":
        fn = getattr(w.F, function)
    elif contestant == "composed":
        extra["composed"], fn = w.composed(function)
    elif contestant == "compile":
        fn = w.compiled(function)
    else:
        if not target_module.provides(function):
            pytest.skip("not provided by target")
        fn = target_module.function(function)
        extra["target"] = target_module.name
    if mode == "forward":
        args, kwargs = workload.tensors(dtype, device)
        return w.torch_runner(fn, args, kwargs), extra
    args, kwargs, leaves = workload.with_leaves(dtype, device)
    if not leaves:
        pytest.skip("no differentiable floating-point input")
    grad_output = workload.grad_output(dtype, device)
    return w.torch_runner(fn, args, kwargs, leaves, grad_output), extra


def _sig(x):
    return float(f"{x:.4g}")


def _timed(run, device):
    """One call, returning ``(result, seconds)`` with the device drained."""
    start = time.perf_counter()
    result = run()
    w.synchronize(device)
    return result, time.perf_counter() - start


@pytest.mark.filterwarnings("ignore")  # kl_div's reduction='mean' warns on every call, torch.compile on setup
def test_loss(benchmark, request, copy_bandwidth, target_module, function, size, shape, dtype, device, mode,
              contestant):
    benchmark.group = f"{function} {mode} ({dtype}, {shape}, {device})"
    workload = _workload(function, shape)
    try:
        run, extra = _build(workload, dtype, device, mode, contestant, target_module)
        if benchmark.disabled:
            result, seconds = _timed(lambda: benchmark(run), device)
        else:
            # Warm-up: lazy initialization (the first few CPU backward calls take ~50 ms each), compilation
            # (the backward graph compiles on the first backward), page faults of fresh outputs.
            start = time.perf_counter()
            result, seconds = _timed(run, device)
            calls = 1
            while calls < WARMUP_CALLS and time.perf_counter() - start < WARMUP_BUDGET:
                result, latest = _timed(run, device)
                seconds, calls = min(seconds, latest), calls + 1
            if contestant == "compile":
                extra["compile_warmup_s"] = round(time.perf_counter() - start, 2)
    except torch.cuda.OutOfMemoryError:
        pytest.skip("out of device memory")
    except Exception as exc:
        if contestant in ("torch", "compile"):  # torch's own limits (a dtype, compile's C++ toolchain)
            pytest.skip(f"{contestant} raised {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
        raise

    out = result if mode == "forward" else result[0]
    error = w.relative_error(torch.as_tensor(out), workload.baseline(dtype, device))
    if contestant == "composed":
        # A hand-written version may be unstable (the naive BCE-with-logits gives inf in bfloat16):
        # that is a finding to record beside its time, not a reason to drop the time.
        extra["accurate"] = error <= w.CHECK_TOLERANCE[dtype]
    else:
        assert error <= w.CHECK_TOLERANCE[dtype], (
            f"{contestant} computes another function: relative error {error:.3g} against torch.nn.functional, "
            f"but should be <= {w.CHECK_TOLERANCE[dtype]} [{request.node.callspec.id}]")

    if not benchmark.disabled:
        if seconds < SLOW_CALL:
            benchmark(run)
        else:
            rounds = max(request.config.getoption("benchmark_min_rounds"),
                         math.ceil(float(request.config.getoption("benchmark_max_time")) / seconds))
            benchmark.pedantic(run, rounds=max(1, min(rounds, int(SLOW_BUDGET / seconds))), iterations=1)
        seconds = benchmark.stats.stats.median
        if device == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            reps = max(1, min(100, int(0.1 / seconds)))
            start.record()
            for _ in range(reps):
                run()
            end.record()
            torch.cuda.synchronize()
            extra["device_time_s"] = start.elapsed_time(end) / 1e3 / reps

    args, kwargs = workload.tensors(dtype, device)
    leaves = workload.with_leaves(dtype, device)[2] if mode == "forward+backward" else None
    out_like = torch.empty(tuple(workload.baseline(dtype, device).shape), dtype=w.DTYPE_OF[dtype])
    nbytes = w.min_bytes(args, kwargs, out_like, leaves)
    copy_gbps = copy_bandwidth.gbps(device, nbytes)
    achieved = nbytes / seconds / 1e9
    benchmark.extra_info.update(
        function=function, size=size, shape=list(shape), dtype=dtype, device=device, mode=mode,
        contestant=contestant, numel=math.prod(shape), min_bytes=nbytes, median_s=seconds,
        achieved_gbps=_sig(achieved), copy_gbps=_sig(copy_gbps),
        fraction_of_copy_bw=_sig(achieved / copy_gbps),
        rel_err_vs_torch=_sig(error) if math.isfinite(error) else str(error),
        threads=torch.get_num_threads(),
        device_name=torch.cuda.get_device_name() if device == "cuda" else "cpu", **extra)
