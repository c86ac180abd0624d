"""Benchmark parametrization: every registered function x size x dtype x device x mode x contestant.

Tests are ordered so that all benchmarks of one (function, shape) run back to back: its inputs
are drawn once and dropped before the next shape's (see ``workload`` in test_losses.py).

``--benchmark-disable`` (the CI smoke test) collects only the smallest size: each body runs
once, and torch.compile, benchmarked only at the canonical shape, is left out.

``BENCH_NUM_THREADS`` sets torch's CPU threads (default: torch's own choice, one per core).
"""

import os
import time

import pytest
import torch

from conformance.options import DEFAULT_TARGET
from conformance.plugin import selected_dtypes
from conformance.registry import REGISTRY

from .workloads import COMPOSED, DTYPES, MODES, SWEEP, CopyBandwidth, canonical, sizes

# The reference at the canonical 4096 x 32000 takes ~10-15 s per forward+backward call here;
# it is timed there for benchmarks/README.md's table.
REFERENCE_BEYOND_SWEEP = ("cross_entropy",)


def pytest_configure(config):
    threads = os.environ.get("BENCH_NUM_THREADS")
    if threads:
        torch.set_num_threads(int(threads))


def _cuda_timer():
    """pytest-benchmark's clock for CUDA rounds: the device's queue drained before each reading."""
    torch.cuda.synchronize()
    return time.perf_counter()


# torch.compile results that differ from eager: strict xfails, so an upstream fix shows up.
COMPILE_DIVERGENCES = {
    "multilabel_margin_loss": "the decomposition lets target entries after the first -1 contribute "
                              "(eager 1.286 vs compiled 3.285 on a 6 x 5 example); "
                              "https://github.com/pytorch/pytorch/issues/141017, fixed upstream by PR #189552",
}


def _contestants(function, size, dtype, device, target):
    names = ["torch"]
    if function in COMPOSED:
        names.append("composed")
    if size == canonical(function, device) and (device == "cuda" or dtype == "float32"):
        names.append("compile")  # on the CPU each compilation costs seconds: float32 only
    if device == "cpu" and dtype == "float32" and (size in SWEEP or function in REFERENCE_BEYOND_SWEEP):
        names.append("reference")  # float64 whatever the dtype: once per shape, in the float32 group
    if target != DEFAULT_TARGET:
        names.append("target")
    return names


def benchmark_matrix(config):
    """``[(function, size, shape, dtype, device, mode, contestant)]`` in run order."""
    smoke = config.getoption("benchmark_disable", False)
    wanted = set(selected_dtypes(config))
    target = config.getoption("--target")
    rows = []
    for function, spec in REGISTRY.items():
        devices = {device: sizes(function, device) for device in DTYPES}
        labels = list(dict.fromkeys(label for table in devices.values() for label in table))
        for size in labels[:1] if smoke else labels:
            for dtype in ("float32", "bfloat16", "float16"):
                for device, table in devices.items():
                    if size not in table or dtype not in DTYPES[device] or dtype not in wanted:
                        continue
                    if device == "cpu" and dtype not in spec.dtypes:
                        continue  # the spec says torch's CPU kernels lack it
                    for mode in MODES:
                        for contestant in _contestants(function, size, dtype, device, target):
                            rows.append((function, size, table[size], dtype, device, mode, contestant))
    return rows


def _id(row):
    function, _, shape, dtype, device, mode, contestant = row
    return f"{function}({dtype}, {shape}, {device}) {mode} {contestant}"


def pytest_generate_tests(metafunc):
    if "contestant" not in metafunc.fixturenames:
        return
    names = ("function", "size", "shape", "dtype", "device", "mode", "contestant")
    params = []
    for row in benchmark_matrix(metafunc.config):
        marks = []
        if row[4] == "cuda":
            marks.append(pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available"))
            marks.append(pytest.mark.benchmark(timer=_cuda_timer))
        if row[6] == "compile" and row[0] in COMPILE_DIVERGENCES:
            marks.append(pytest.mark.xfail(strict=True, reason=COMPILE_DIVERGENCES[row[0]]))
        params.append(pytest.param(*row, marks=marks, id=_id(row)))
    metafunc.parametrize(names, params)


@pytest.fixture(scope="session")
def copy_bandwidth():
    return CopyBandwidth()


@pytest.fixture(scope="session")
def target_module(request):
    """The ``--target`` implementation (module or .py file), loaded once."""
    from conformance.targets import TorchTarget

    return TorchTarget.load(request.config.getoption("--target"))
