"""The report as data: the statuses, the cells, the environment, :func:`build` and the verdict.

The JSON schema, field by field, is in docs/report.md.
"""

import math
import platform
import time
from collections import Counter
from datetime import datetime, timezone

SCHEMA = 3
CHECKS = ("forward", "backward", "error", "jvp", "gradgrad", "vmap")
TRANSFORM_CHECKS = ("jvp", "gradgrad", "vmap")
STATUSES = ("passed", "failed", "timeout", "crashed", "error", "skipped", "xfailed", "xpassed")
FAILURES = ("failed", "timeout", "crashed", "error")  # the statuses that fail a run
PYTEST_COUNTS = ("passed", "failed", "skipped", "xfailed", "xpassed", "errors")
EXIT_CODES = {"passed": 0, "failed": 1, "interrupted": 2, "nothing checked": 5, "incomplete": 6}
MAX_FAILURES_SHOWN = 20  # per cell, in the Markdown and HTML; the JSON keeps all
ERROR_DTYPE = "-"
UNKNOWN_FAMILY = "unknown"
SEED_POLICY = ("each case's data seed is zlib.crc32 of its id without the device "
               "(numpy.random.default_rng([seed, stream]); stream 1 draws grad_output); "
               "error cases use the crc32 of 'function(label)'")
REPORT_ATTRIBUTE = "conformance"  # the test report attribute carrying the cell; travels through xdist


def zero_counts(keys=STATUSES):
    return dict.fromkeys(keys, 0)


def worse(current, value):
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return current
    return value if current is None else max(current, value)


def summed(counts_list, keys=STATUSES):
    total = zero_counts(keys)
    for counts in counts_list:
        for k in keys:
            total[k] += counts[k]
    return total


def cell_status(counts):
    for status in FAILURES + ("passed", "xpassed", "xfailed", "skipped"):
        if counts[status]:
            return status
    return "empty"


def _device_name(device):
    name = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    name = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    name = name or platform.processor() or platform.machine()
    if device in ("cuda", "all"):
        import torch

        if torch.cuda.is_available():
            name += "; " + ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
        else:
            name += "; no CUDA device"
    return name


def _kinds(checks):
    """``--check``'s kinds, as given (a comma-separated string, ``all``, or names) in CHECKS order."""
    names = checks.split(",") if isinstance(checks, str) else checks
    chosen = {n.strip() for n in names}
    return [c for c in CHECKS if "all" in chosen or c in chosen]


def suite_version():
    """The installed suite's version (``unknown`` when run from a checkout that was never installed)."""
    from importlib import metadata

    try:
        return metadata.version("torch-loss-conformance")
    except metadata.PackageNotFoundError:
        return "unknown"


def environment(target, device, dtypes, selection=None, workers=None, functions=None, profile="default",
                checks=CHECKS, shard=None):
    """What the run ran on; ``build`` adds the case count and duration."""
    import numpy
    import torch

    from ..dtypes import FLOAT_DTYPES

    if dtypes == "all":
        dtype_list = list(FLOAT_DTYPES)
    else:
        dtype_list = [d.strip() for d in dtypes.split(",")] if isinstance(dtypes, str) else list(dtypes)
    return {"target": target, "suite": suite_version(), "torch": torch.__version__, "numpy": numpy.__version__,
            "python": platform.python_version(), "platform": platform.platform(), "device": device,
            "device_name": _device_name(device), "dtypes": dtype_list, "selection": selection,
            "functions": [f.strip() for f in functions.split(",")] if functions else None,
            "workers": workers, "profile": profile, "check_kinds": _kinds(checks), "shard": shard,
            "seed_policy": SEED_POLICY}


class _Cell:
    __slots__ = ("checks", "families", "worst_ulp", "worst_rel", "skip_reasons", "failures")

    def __init__(self):
        self.checks = {c: zero_counts() for c in CHECKS}
        self.families = {}  # family -> [counts, worst_ulp, worst_rel]
        self.worst_ulp = self.worst_rel = None
        self.skip_reasons = Counter()
        self.failures = []

    def add(self, record):
        info, status = record["info"], record["status"]
        self.checks[info["check"]][status] += 1
        family = self.families.setdefault(info["family"], [zero_counts(), None, None])
        family[0][status] += 1
        # None unless the check passed or failed: known divergences and lost checks judge no accuracy.
        self.worst_ulp, family[1] = worse(self.worst_ulp, record["ulp"]), worse(family[1], record["ulp"])
        self.worst_rel, family[2] = worse(self.worst_rel, record["rel"]), worse(family[2], record["rel"])
        if record["skip_reason"] is not None:
            self.skip_reasons[record["skip_reason"]] += 1
        if record["failure"] is not None:
            self.failures.append(record["failure"])


def build(summary, env, duration_s, started=None, *, interrupted=False):
    """The report as a plain dict (the JSON schema above) from a :class:`Summary`.

    ``interrupted``: the run was stopped before its end (also true when the summary saw pytest's
    KeyboardInterrupt); the report holds the counts so far and its verdict says so.
    """
    tallies = {}
    for record in summary.tests.values():
        info = record["info"]
        tallies.setdefault((info["function"], info["dtype"], info["device"]), _Cell()).add(record)
    cells = []
    for (function, dtype, device), tally in sorted(tallies.items()):
        counts = summed(tally.checks.values())
        families = [{"family": name, "counts": fam[0], "worst_ulp": fam[1], "worst_rel": fam[2]}
                    for name, fam in sorted(tally.families.items())]
        failures = sorted(tally.failures, key=lambda f: (f["test"], f["check"]))
        cells.append({"function": function, "dtype": dtype, "device": device, "status": cell_status(counts),
                      "counts": counts, "checks": tally.checks,
                      "skip_reasons": dict(sorted(tally.skip_reasons.items())),
                      "worst_ulp": tally.worst_ulp, "worst_rel": tally.worst_rel, "families": families,
                      "failures_total": len(failures), "failures": failures})
    started = started if started is not None else time.time() - duration_s
    env = {**env, "cases": len(summary.ids), "checks": summary.checks, "duration_s": round(duration_s, 3),
           "started": datetime.fromtimestamp(started, timezone.utc).isoformat(timespec="seconds")}
    skip_reasons = Counter()
    for cell in cells:
        skip_reasons.update(cell["skip_reasons"])
    report = {"schema": SCHEMA, "environment": env, "verdict": None,
              "interrupted": bool(interrupted or getattr(summary, "interrupted", False)),
              "totals": summed(c["counts"] for c in cells), "skip_reasons": dict(sorted(skip_reasons.items())),
              "pytest": dict(summary.pytest), "cells": cells,
              "failures": sorted(f["test"] for c in cells for f in c["failures"]),
              "results": _results(summary)}
    report["verdict"] = verdict(report)
    return report


def _results(summary):
    """Every check's test id by status: what ``python -m conformance diff`` and ``--baseline`` compare."""
    results = {status: [] for status in STATUSES}
    for nodeid, record in summary.tests.items():
        results[record["status"]].append(nodeid.split("::", 1)[-1])
    return {status: sorted(tests) for status, tests in results.items()}


def plural(n, word, plural=None):
    return f"{n} {word if n == 1 else plural or word + 's'}"


def _reasons_text(reasons):
    return ", ".join(f"{n} {reason}" for reason, n in sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0])))


def _skips_text(totals, reasons):
    if not totals["skipped"]:
        return ""
    return f"{totals['skipped']} skipped" + (f" ({_reasons_text(reasons)})" if reasons else "")


def verdict(report):
    """The run's verdict from a report's counts: ``{"status", "exit_code", "text"}``.

    ``status``: "interrupted" when ``report["interrupted"]``, else "failed" when any check failed,
    timed out, crashed or errored, else "nothing checked" when no check passed, else "passed";
    ``exit_code``: :data:`EXIT_CODES` of it (2, 1, 5, 0); ``text``: one line that says it with the counts.
    """
    totals = report["totals"]
    reasons = report.get("skip_reasons") or {}
    checks = sum(totals.values())
    lost = [plural(totals["failed"], "failed", "failed"), plural(totals["timeout"], "timed out", "timed out"),
            plural(totals["crashed"], "crashed", "crashed"), plural(totals["error"], "error")]
    lost = [text for text, status in zip(lost, FAILURES, strict=True) if totals[status]]
    others = [f"{totals[k]} {k}" for k in ("passed", "xfailed", "xpassed") if totals[k]]
    skips = _skips_text(totals, reasons)
    counted = ", ".join(lost + others + ([skips] if skips else [])) or "none"
    if report.get("interrupted"):
        status = "interrupted"
        text = f"interrupted after {plural(checks, 'check')}: {counted} (partial counts)"
    elif lost:
        status = "failed"
        rest = others + ([skips] if skips else [])
        text = f"failed: {', '.join(lost)}" + (f"; {', '.join(rest)}" if rest else "")
        text += f" of {plural(checks, 'check')}"
    elif not totals["passed"]:
        status = "nothing checked"
        text = "nothing was checked: " + (f"{counted} of {plural(checks, 'check')}" if checks
                                          else "no check was selected")
    else:
        status = "passed"
        text = f"passed: {counted} of {plural(checks, 'check')}"
    return {"status": status, "exit_code": EXIT_CODES[status], "text": text}
