"""``python -m conformance``: run the conformance suite and summarise it.

Runs the generated cases through pytest (so ``-k``, ``-n`` and every pytest option work)
and prints one line per function, dtype and device: passed, failed, skipped and
strict-xfailed counts for the forward, backward and error checks, and the worst error seen
in ULPs of the dtype. The same summary is written as JSON (``--json``, default
``reports/conformance.json``).

Examples::

    python -m conformance                                  # torch.nn.functional on the CPU
    python -m conformance --target my_port.py -k cross_entropy
    python -m conformance --device all --dtype float32,bfloat16 -n 2
"""

import argparse
import json
import os
import platform
import sys
import time
from collections import defaultdict

import pytest

TESTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "test_conformance.py")
CHECKS = ("forward", "backward", "error")


class Summary:
    """A pytest plugin that tallies outcomes per (function, dtype, device) and check."""

    def __init__(self):
        self.cells = defaultdict(lambda: {c: defaultdict(int) for c in CHECKS})
        self.worst_ulp = defaultdict(float)
        self.keys = {}
        self.failures = []

    def pytest_collection_modifyitems(self, items):
        for item in items:
            params = getattr(getattr(item, "callspec", None), "params", {})
            check = item.originalname.removeprefix("test_")
            if "case" in params:
                case = params["case"]
                self.keys[item.nodeid] = ((case.function, case.dtype, case.device), check)
            elif "error_instance" in params:
                instance = params["error_instance"]
                self.keys[item.nodeid] = ((instance.function, "-", instance.device), check)

    def pytest_runtest_logreport(self, report):
        key = self.keys.get(report.nodeid)
        if key is None or (report.when != "call" and not (report.skipped or report.failed)):
            return
        if report.when == "teardown" and not report.failed:
            return
        cell, check = key
        if hasattr(report, "wasxfail"):
            outcome = "xfailed" if report.skipped else "failed"  # strict XPASS reports as failed
        else:
            outcome = report.outcome
        self.cells[cell][check][outcome] += 1
        if outcome == "failed":
            self.failures.append(report.nodeid.split("::", 1)[1])
        for name, value in report.user_properties:
            if name == "max_ulp" and value != float("inf"):
                self.worst_ulp[cell] = max(self.worst_ulp[cell], value)

    def rows(self):
        for (function, dtype, device), checks in sorted(self.cells.items()):
            yield {"function": function, "dtype": dtype, "device": device,
                   "worst_ulp": self.worst_ulp.get((function, dtype, device), 0.0),
                   **{check: dict(counts) for check, counts in checks.items()}}


def _cell(counts):
    if not counts:
        return "-"
    parts = [f"{counts[k]} {k}" for k in ("passed", "failed", "xfailed", "skipped") if counts.get(k)]
    return ", ".join(parts)


def render(rows):
    header = ("function", "dtype", "device", "forward", "backward", "errors", "worst ulp")
    table = [header] + [(r["function"], r["dtype"], r["device"], _cell(r["forward"]), _cell(r["backward"]),
                         _cell(r["error"]), f"{r['worst_ulp']:.3g}") for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def environment(target, args):
    import numpy
    import torch

    device_name = platform.processor() or platform.machine()
    if args.device in ("cuda", "all") and torch.cuda.is_available():
        device_name += "; " + torch.cuda.get_device_name()
    return {"target": target, "torch": torch.__version__, "numpy": numpy.__version__,
            "python": platform.python_version(), "device": args.device, "device_name": device_name,
            "dtypes": args.dtype}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m conformance", description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", default=os.environ.get("CONFORMANCE_TARGET", "torch.nn.functional"))
    parser.add_argument("--device", default=os.environ.get("CONFORMANCE_DEVICE", "cpu"), choices=("cpu", "cuda", "all"))
    parser.add_argument("--dtype", default=os.environ.get("CONFORMANCE_DTYPE", "all"))
    parser.add_argument("-k", dest="keyword", help="select cases, as pytest -k (e.g. cross_entropy)")
    parser.add_argument("-n", dest="workers", help="pytest-xdist workers (e.g. 2 or auto)")
    parser.add_argument("--json", default="reports/conformance.json", help="where to write the JSON summary")
    args, extra = parser.parse_known_args(argv)

    pytest_args = [TESTS, "-q", "-p", "conformance.plugin", "-p", "no:logging", "--no-header",
                   "--target", args.target, "--device", args.device, "--dtype", args.dtype,
                   "-o", "console_output_style=count"]
    if args.keyword:
        pytest_args += ["-k", args.keyword]
    if args.workers:
        pytest_args += ["-n", args.workers]
    summary = Summary()
    started = time.perf_counter()
    code = pytest.main(pytest_args + ["--tb=line", "-rN"] + extra, plugins=[summary])
    duration = time.perf_counter() - started
    rows = list(summary.rows())
    print()
    print(render(rows))
    total = defaultdict(int)
    for row in rows:
        for check in CHECKS:
            for outcome, n in row[check].items():
                total[outcome] += n
    env = environment(args.target, args)
    print(f"\n{sum(total.values())} checks: " + ", ".join(f"{n} {k}" for k, n in sorted(total.items()))
          + f" in {duration:.1f} s; target {args.target}, torch {env['torch']}, numpy {env['numpy']}")
    if summary.failures:
        print(f"\n{len(summary.failures)} failed; the first ones:")
        for nodeid in summary.failures[:10]:
            print("  " + nodeid)
    if args.json:
        os.makedirs(os.path.dirname(args.json) or ".", exist_ok=True)
        with open(args.json, "w") as f:
            json.dump({"schema": 1, "environment": env, "duration_s": duration, "totals": dict(total),
                       "cells": rows, "failures": summary.failures}, f, indent=1)
        print(f"summary written to {args.json}")
    return int(code)


if __name__ == "__main__":
    sys.exit(main())
