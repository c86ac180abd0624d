"""The conformance report: one data model, written as JSON, Markdown and a self-contained HTML page.

``python -m conformance`` tallies every test report into a :class:`Summary`, turns it into a
plain dict with :func:`build` and writes that dict three ways: :func:`to_json`,
:func:`to_markdown` (for pull requests and issues) and :func:`to_html` (a single file with
inline CSS, no script and no network access: a matrix of function x dtype per device).
:func:`verdict` is the run's outcome as data, and :func:`render_verdict` its console line.

This module is also a pytest plugin (``-p conformance.report``): on the process that runs
a test, it attaches the test's cell (function, dtype, device), check and option family to
the test report, so the tally is the same with and without pytest-xdist, whose workers send
their reports to the controller. A report without it (pytest-xdist's report of a crashed
worker, made in the controller) is placed from its node id instead.

Statuses. Every check (one conformance test: ``test_forward``, ``test_backward`` or
``test_error`` of one case) ends as exactly one of:

- ``passed``;
- ``failed``: a wrong result, a wrong exception, or a strict known divergence that passed
  (XPASS(strict));
- ``timeout``: the target ran past the case time limit (the harness records the property
  ``status=timeout``; the message starts ``timed out after ...``);
- ``crashed``: the target's process died (``status=crashed``: ``target crashed (signal 11) in ...``),
  or a pytest-xdist worker died while running the test (``worker 'gw0' crashed while running ...``);
- ``error``: the test could not run (a fixture or setup error, ``status=error`` from the harness,
  or a failing teardown of a test that had passed);
- ``skipped``, with its reason (``skip_reasons``: "not provided by target", "CUDA is not available", ...);
- ``xfailed``: a known divergence (known_divergences/*.toml) that showed;
- ``xpassed``: a non-strict known divergence (intermittent, e.g. uninitialized memory) that did not show.

Tally rules. One status per test (node id), whatever its phases:

- a setup that skipped or failed sets it (skipped, or error; no call follows); else the call sets it;
- a failing report that comes after that (a failing teardown, or pytest-xdist's crash report
  for a test whose call was already reported) replaces the status only when it was passed or
  xpassed, by error (teardown) or crashed (worker crash); otherwise the test keeps its status and
  is not counted again;
- a test with no report from this plugin's hook is placed from its node id
  (``...test_conformance.py::test_<check>[<case id>]``: the function before the first "(", the
  dtype as the first item when it is a float dtype, else "-", the device from ``device='...'``),
  in family "unknown".

So ``environment.checks`` = the sum of ``totals`` = the sum of the cells' counts = the number
of tests reported. pytest's own line counts phases, not tests; the report keeps it as
``pytest`` and the two reconcile as::

    pytest passed  = passed + (passes replaced by a late teardown error or worker crash)
    pytest failed  = failed + timeout + crashed + (errors the harness reported from the call phase)
    pytest errors  = (errors from setup or teardown) + (failing teardowns not counted again)
    pytest skipped, xfailed, xpassed = skipped, xfailed, xpassed

(without late failures and harness errors: failed = failed + timeout + crashed, errors = error).

Verdict (``report["verdict"]``, :func:`verdict`), and the exit code of ``python -m conformance``:

- ``passed`` (0): at least one check passed and none failed, timed out, crashed or errored;
  the text counts the skips by reason, for the reader to judge they were chosen;
- ``failed`` (1): anything failed, timed out, crashed or errored; the text counts each kind;
- ``interrupted`` (2): the run was stopped (Ctrl-C) after the checks counted; the counts are partial;
- ``nothing checked`` (5): no check passed (nothing selected, a target that provides nothing,
  ``--device cuda`` without a GPU); the text counts the skips by reason.

(``python -m conformance`` itself uses 3 for an internal error and 4 for a usage error, such as a
report directory that cannot be written: :func:`check_writable`.)

JSON schema (``"schema": 3``)::

    {
      "schema": 3,
      "environment": {
        "target": "torch.nn.functional",     # --target
        "torch": "2.13.0+cpu", "numpy": "2.4.6", "python": "3.11.2",
        "platform": "Linux-...-x86_64",
        "device": "cpu",                     # --device: cpu, cuda or all
        "device_name": "Intel(R) Xeon(R) ...",  # the CPU's model, then each GPU's name
        "dtypes": ["float64", "float32", "float16", "bfloat16"],   # --dtype
        "selection": "softmax" | null,       # -k
        "functions": ["mse_loss"] | null,     # --function
        "workers": "2" | null,               # -n (the only field that depends on it, with the times)
        "profile": "default",                  # --profile: default (the case grid), scale or scale-smoke
        "seed_policy": "...",                # a case's data seed: crc32 of its id without the device
        "cases": 22083,                      # distinct cases and error cases run
        "checks": 44284,                     # tests counted (forward + backward + error), each once
        "duration_s": 123.4,                 # wall time of the pytest run
        "started": "2025-01-01T12:00:00+00:00"
      },
      "verdict": {"status": "failed",        # passed, failed, interrupted or nothing checked (above)
                  "exit_code": 1,            # 0, 1, 2 or 5
                  "text": "failed: 2 failed, 1 timed out; 5 passed of 8 checks"},
      "interrupted": false,                  # true: a partial run (Ctrl-C), its counts so far
      "totals": {<counts>},                  # <counts>: every status above, zeros included:
                                             # {"passed", "failed", "timeout", "crashed", "error",
                                             #  "skipped", "xfailed", "xpassed"}
      "skip_reasons": {"not provided by target": 120},   # skipped checks by reason, sorted
      "pytest": {"passed": 0, "failed": 0, "skipped": 0, "xfailed": 0, "xpassed": 0, "errors": 0},
                                             # pytest's own count of the same reports (see above)
      "cells": [                             # one per (function, dtype, device), sorted;
        {                                    # dtype "-" holds the error cases (run in float32)
          "function": "softmax", "dtype": "float64", "device": "cpu",
          "status": "passed",                # the first present of failed, timeout, crashed, error,
                                             # passed, xpassed, xfailed, skipped; else "empty"
          "counts": {<counts>},
          "checks": {"forward": {<counts>}, "backward": {<counts>}, "error": {<counts>}},
          "skip_reasons": {"needs torch >= 1.10": 4},
          "worst_ulp": 0.5 | null,           # worst finite error in ULPs of the dtype, of the checks that
          "worst_rel": 1e-16 | null,         # passed or failed (null: none recorded); never from
                                             # xfailed/xpassed (known divergences) nor timeout/crashed
          "families": [                      # the cell's cases by option family: "values=<class>" for a
            {"family": "reduction='sum'",    # non-normal value class, else the first non-default
             "counts": {<counts>},           # option, else "defaults"; errors: "errors"; placed
             "worst_ulp": 0.5, "worst_rel": null}   # from the node id: "unknown"
          ],
          "failures_total": 3,               # len(failures)
          "failures": [                      # every failed, timed out, crashed or errored check, by test
            {"check": "forward", "id": "softmax(float64, (4, 5), dim=0)",
             "test": "test_forward[softmax(float64, (4, 5), dim=0)]",
             "status": "failed",             # failed, timeout, crashed or error
             "message": "output: got ..., but should be ...\\ncall: ...\\nrerun: ...",
                                             # pytest's text, without pytest-xdist's "[gw1] ..." line
             "call": "F.softmax(...)" | null,   # the message's "call:" line, without the prefix
             "rerun": "pytest ..."}             # the message's "rerun:" line without the prefix, else
                                                # pytest --pyargs "conformance.test_conformance::<test>" ...
          ]
        }
      ],
      "failures": ["test_forward[softmax(float64, (4, 5), dim=0)]", ...]   # every failure's test, sorted
    }

Nothing in it but ``environment.workers``, ``duration_s`` and ``started`` depends on the number of
pytest-xdist workers: failures are sorted by test id and messages lose the worker's header line.
The Markdown and HTML show the first :data:`MAX_FAILURES_SHOWN` failures of a cell, and say
where all of them are.

The worst errors are those the tests record with ``record_property``
(``max_ulp``, ``max_rel``); a check that fails without a finite error (an exception, a NaN
where a number was expected) counts as failed and leaves the worst error unchanged.
"""

import html
import json
import math
import os
import platform
import re
import tempfile
import time
from collections import Counter
from datetime import datetime, timezone

import pytest

from . import ids, publish

SCHEMA = 3
CHECKS = ("forward", "backward", "error")
STATUSES = ("passed", "failed", "timeout", "crashed", "error", "skipped", "xfailed", "xpassed")
FAILURES = ("failed", "timeout", "crashed", "error")  # the statuses that fail a run
PYTEST_COUNTS = ("passed", "failed", "skipped", "xfailed", "xpassed", "errors")
EXIT_CODES = {"passed": 0, "failed": 1, "interrupted": 2, "nothing checked": 5}
MAX_FAILURES_SHOWN = 20  # per cell, in the Markdown and HTML; the JSON keeps all
ERROR_DTYPE = "-"
UNKNOWN_FAMILY = "unknown"
SEED_POLICY = ("each case's data seed is zlib.crc32 of its id without the device "
               "(numpy.random.default_rng([seed, stream]); stream 1 draws grad_output); "
               "error cases use the crc32 of 'function(label)'")
REPORT_ATTRIBUTE = "conformance"  # the test report attribute carrying the cell; travels through xdist


# --- the plugin side: runs where the test runs --------------------------------------------


def _family(case):
    if case.values != "normal":
        return f"values={case.values}"
    if case.options:
        name, value = case.options[0]
        return f"{name}={value!r}"
    return "defaults"


def describe_item(item):
    """``{function, dtype, device, check, family, id}`` of a conformance test item, else None."""
    params = getattr(getattr(item, "callspec", None), "params", {})
    check = getattr(item, "originalname", "").removeprefix("test_").removeprefix("scale_")
    if check not in CHECKS:
        return None
    if "case" in params or "scale_case" in params:  # the scale profile's checks count as forward and backward
        case = params.get("case") or params["scale_case"]
        family = _family(case) if "case" in params else f"profile={case.profile}"
        return {"function": case.function, "dtype": case.dtype, "device": case.device, "check": check,
                "family": family, "id": case.id}
    if "error_instance" in params:
        instance = params["error_instance"]
        return {"function": instance.function, "dtype": ERROR_DTYPE, "device": instance.device, "check": check,
                "family": "errors", "id": instance.id}
    return None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    info = describe_item(item)
    if info is not None:
        # A plain attribute of str values: xdist serialises the report's __dict__ to the controller.
        setattr(report, REPORT_ATTRIBUTE, info)
    return report


# --- the controller side: tally ------------------------------------------------------------

_WORKER_HEADER = re.compile(r"^\[[\w.-]+\] \S+ -- Python \S+ .*\n?", re.MULTILINE)  # pytest-xdist's
_WORKER_CRASH = re.compile(r"worker '[^']*' crashed while running")
_FLOAT_DTYPES = ("float64", "float32", "float16", "bfloat16")  # conformance.dtypes.FLOAT_DTYPES, without numpy


def describe_nodeid(nodeid):
    """``{function, dtype, device, check, family, id}`` of a conformance test from its node id, else None:
    for reports that lack the plugin's attribute (a crashed pytest-xdist worker's)."""
    parsed = ids.parse_node(nodeid)
    if parsed is None:
        return None
    check, case_id = parsed
    check = check.removeprefix("scale_")
    function = ids.function_of(case_id)
    first = re.split(r"[,)]", case_id[len(function) + 1:], maxsplit=1)[0].strip()
    dtype = first if check != "error" and first in _FLOAT_DTYPES else ERROR_DTYPE
    return {"function": function, "dtype": dtype, "device": ids.device_of(case_id), "check": check,
            "family": UNKNOWN_FAMILY, "id": case_id}


def _counts(keys=STATUSES):
    return dict.fromkeys(keys, 0)


def _worse(current, value):
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return current
    return value if current is None else max(current, value)


def _line(message, prefix):
    for line in message.splitlines():
        stripped = line.strip()
        if stripped.startswith(prefix):
            return stripped[len(prefix):].strip()
    return None


def _property(report, name):
    value = None
    for key, v in report.user_properties:
        if key == name:
            value = v
    return value


def message_of(report):
    """The report's text without pytest-xdist's ``[gw1] linux -- Python ...`` header line."""
    return _WORKER_HEADER.sub("", report.longreprtext).strip()


def skip_reason(report):
    """The reason of a skip: the message of ``pytest.skip`` or of a skip mark."""
    longrepr = report.longrepr
    if isinstance(longrepr, (tuple, list)) and len(longrepr) == 3:
        text = str(longrepr[2])
    elif longrepr is None:
        return "no reason given"
    else:
        text = message_of(report)
    return text.removeprefix("Skipped: ").strip() or "no reason given"


def status_of(report):
    """The status of one phase's report (see the module docstring)."""
    if hasattr(report, "wasxfail"):
        # Non-strict XPASS; a strict XPASS reports as failed, without wasxfail.
        return "xfailed" if report.skipped else "xpassed"
    if report.passed:
        return "passed"
    if report.skipped:
        return "skipped"
    marked = _property(report, "status")
    if marked in FAILURES:
        return marked
    if _WORKER_CRASH.search(str(report.longrepr)):
        return "crashed"
    return "error" if report.when in ("setup", "teardown") else "failed"


def counted_by_pytest(report):
    """What pytest's own summary line counts the report as (None: not counted)."""
    if hasattr(report, "wasxfail"):
        return "xfailed" if report.skipped else "xpassed"
    if report.when in ("setup", "teardown"):
        if report.failed:
            return "errors"
        return "skipped" if report.skipped else None
    return report.outcome


class Summary:
    """A pytest plugin (controller side) that gives every conformance test one status (see the tally rules)."""

    def __init__(self, target=None):
        self.target = target  # for the rerun command of failures whose message has none
        self.tests = {}  # node id -> the test's record
        self.pytest = _counts(PYTEST_COUNTS)
        self.interrupted = False

    @property
    def checks(self):
        return len(self.tests)

    @property
    def ids(self):
        return {record["info"]["id"] for record in self.tests.values()}

    @property
    def failures(self):
        return sorted(r["failure"]["test"] for r in self.tests.values() if r["failure"] is not None)

    @staticmethod
    def outcome(report):
        return status_of(report)

    def pytest_keyboard_interrupt(self, excinfo):
        self.interrupted = True

    def pytest_runtest_logreport(self, report):
        info = getattr(report, REPORT_ATTRIBUTE, None) or describe_nodeid(report.nodeid)
        if info is None:
            return
        category = counted_by_pytest(report)
        if category in self.pytest:
            self.pytest[category] += 1
        record = self.tests.get(report.nodeid)
        if record is None:
            if report.when in ("setup", "teardown") and report.passed:
                return  # a test's status comes from its call, or a setup that did not pass
            self.tests[report.nodeid] = self._record(report, info)
        elif report.failed and record["status"] in ("passed", "xpassed"):
            # A late failure (teardown, worker crash) after a pass: the test counts once, as that failure.
            self.tests[report.nodeid] = self._record(report, {**info, **record["info"]})

    def _record(self, report, info):
        status = status_of(report)
        record = {"info": info, "status": status, "ulp": None, "rel": None, "skip_reason": None, "failure": None}
        if status in ("passed", "failed"):
            record["ulp"] = _worse(None, _property(report, "max_ulp"))
            record["rel"] = _worse(None, _property(report, "max_rel"))
        elif status == "skipped":
            record["skip_reason"] = skip_reason(report)
        if status in FAILURES:
            record["failure"] = self._failure(report, info, status)
        return record

    def _failure(self, report, info, status):
        test = report.nodeid.split("::", 1)[-1]
        message = message_of(report)
        rerun = _line(message, "rerun:")
        if rerun is None:
            module = report.nodeid.split("::", 1)[0].rsplit("/", 1)[-1].removesuffix(".py")
            rerun = ids.rerun(f"{module}::{test}", self.target, info["device"])
        return {"check": info["check"], "id": info["id"], "test": test, "status": status, "message": message,
                "call": _line(message, "call:"), "rerun": rerun}


# --- the data model ------------------------------------------------------------------------


def _sum(counts_list, keys=STATUSES):
    total = _counts(keys)
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


def environment(target, device, dtypes, selection=None, workers=None, functions=None, profile="default"):
    """What the run ran on; ``build`` adds the case count and duration."""
    import numpy
    import torch

    from .dtypes import FLOAT_DTYPES

    if dtypes == "all":
        dtype_list = list(FLOAT_DTYPES)
    else:
        dtype_list = [d.strip() for d in dtypes.split(",")] if isinstance(dtypes, str) else list(dtypes)
    return {"target": target, "torch": torch.__version__, "numpy": numpy.__version__,
            "python": platform.python_version(), "platform": platform.platform(), "device": device,
            "device_name": _device_name(device), "dtypes": dtype_list, "selection": selection,
            "functions": [f.strip() for f in functions.split(",")] if functions else None,
            "workers": workers, "profile": profile, "seed_policy": SEED_POLICY}


class _Cell:
    __slots__ = ("checks", "families", "worst_ulp", "worst_rel", "skip_reasons", "failures")

    def __init__(self):
        self.checks = {c: _counts() for c in CHECKS}
        self.families = {}  # family -> [counts, worst_ulp, worst_rel]
        self.worst_ulp = self.worst_rel = None
        self.skip_reasons = Counter()
        self.failures = []

    def add(self, record):
        info, status = record["info"], record["status"]
        self.checks[info["check"]][status] += 1
        family = self.families.setdefault(info["family"], [_counts(), None, None])
        family[0][status] += 1
        # None unless the check passed or failed: known divergences and lost checks judge no accuracy.
        self.worst_ulp, family[1] = _worse(self.worst_ulp, record["ulp"]), _worse(family[1], record["ulp"])
        self.worst_rel, family[2] = _worse(self.worst_rel, record["rel"]), _worse(family[2], record["rel"])
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
        counts = _sum(tally.checks.values())
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
              "totals": _sum(c["counts"] for c in cells), "skip_reasons": dict(sorted(skip_reasons.items())),
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


def _plural(n, word, plural=None):
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
    lost = [_plural(totals["failed"], "failed", "failed"), _plural(totals["timeout"], "timed out", "timed out"),
            _plural(totals["crashed"], "crashed", "crashed"), _plural(totals["error"], "error")]
    lost = [text for text, status in zip(lost, FAILURES, strict=True) if totals[status]]
    others = [f"{totals[k]} {k}" for k in ("passed", "xfailed", "xpassed") if totals[k]]
    skips = _skips_text(totals, reasons)
    counted = ", ".join(lost + others + ([skips] if skips else [])) or "none"
    if report.get("interrupted"):
        status = "interrupted"
        text = f"interrupted after {_plural(checks, 'check')}: {counted} (partial counts)"
    elif lost:
        status = "failed"
        rest = others + ([skips] if skips else [])
        text = f"failed: {', '.join(lost)}" + (f"; {', '.join(rest)}" if rest else "")
        text += f" of {_plural(checks, 'check')}"
    elif not totals["passed"]:
        status = "nothing checked"
        text = "nothing was checked: " + (f"{counted} of {_plural(checks, 'check')}" if checks
                                          else "no check was selected")
    else:
        status = "passed"
        text = f"passed: {counted} of {_plural(checks, 'check')}"
    return {"status": status, "exit_code": EXIT_CODES[status], "text": text}


def render_verdict(report, limit=10):
    """The console lines of the verdict: its text, then the first ``limit`` failures with their status."""
    result = report["verdict"]
    lines = [result["text"]]
    failures = [f for c in report["cells"] for f in c["failures"]]
    failures.sort(key=lambda f: f["test"])
    if failures:
        lines.append(f"the first {min(limit, len(failures))} of {len(failures)} failures (all in the report):"
                     if len(failures) > limit else f"{_plural(len(failures), 'failure')}:")
        lines += [f"  {f['status']}: {f['test']}" for f in failures[:limit]]
    return "\n".join(lines)


# --- renderings ----------------------------------------------------------------------------


def _fmt_err(value):
    if value is None:
        return "-"
    return f"{value:.3g}"


SHORT = {"passed": "✓", "failed": "✗", "timeout": "timeout", "crashed": "crash", "error": "error",
         "xfailed": "xfail", "xpassed": "xpass", "skipped": "skip"}
SHOWN_ORDER = ("passed", "failed", "timeout", "crashed", "error", "xfailed", "xpassed", "skipped")


def counts_text(counts, short=False):
    parts = []
    for k in SHOWN_ORDER:
        if counts.get(k):
            parts.append(f"{counts[k]} {SHORT[k]}" if short else f"{counts[k]} {k}")
    return ", ".join(parts) or "-"


def render_text(report):
    """The console table: one line per cell."""
    header = ("function", "dtype", "device", "forward", "backward", "errors", "worst ulp", "worst rel")
    table = [header]
    for c in report["cells"]:
        table.append((c["function"], c["dtype"], c["device"], counts_text(c["checks"]["forward"]),
                      counts_text(c["checks"]["backward"]), counts_text(c["checks"]["error"]),
                      _fmt_err(c["worst_ulp"]), _fmt_err(c["worst_rel"])))
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _axes(report):
    """(functions, columns) of the matrix; a column is (device, dtype), error cases last per device."""
    from .dtypes import FLOAT_DTYPES

    functions = sorted({c["function"] for c in report["cells"]})
    devices = sorted({c["device"] for c in report["cells"]}, key=lambda d: (d != "cpu", d))
    order = {d: i for i, d in enumerate(list(FLOAT_DTYPES) + [ERROR_DTYPE])}
    dtypes = sorted({c["dtype"] for c in report["cells"]}, key=lambda d: (order.get(d, len(order) - 1), d))
    dtypes = [d for d in dtypes if d != ERROR_DTYPE] + ([ERROR_DTYPE] if ERROR_DTYPE in dtypes else [])
    return functions, [(device, dtype) for device in devices for dtype in dtypes]


def _index(report):
    return {(c["function"], c["dtype"], c["device"]): c for c in report["cells"]}


def _column_label(dtype):
    return "errors" if dtype == ERROR_DTYPE else dtype


def _env_rows(env):
    rows = [("target", env.get("target")), ("torch", env.get("torch")), ("numpy", env.get("numpy")),
            ("python", env.get("python")), ("device", f"{env.get('device')} ({env.get('device_name')})"),
            ("dtypes", ", ".join(env.get("dtypes") or [])),
            ("functions (--function)", ", ".join(env.get("functions") or []) or "all"),
            ("selection (-k)", env.get("selection") or "all"),
            ("cases", env.get("cases")), ("checks", env.get("checks")),
            ("duration", f"{env.get('duration_s', 0):.1f} s" + (f" on {env['workers']} workers"
                                                              if env.get("workers") else "")),
            ("started", env.get("started")), ("seed policy", env.get("seed_policy"))]
    return rows


def failure_text(failure):
    """The failure's message, ending with its rerun command."""
    message = failure["message"].rstrip()
    if failure.get("rerun") and "rerun:" not in message:
        message += "\nrerun: " + failure["rerun"]
    return message


def to_json(report):
    return json.dumps(report, indent=1, allow_nan=False, ensure_ascii=False) + "\n"


def _md_escape(text):
    return str(text).replace("|", "\\|").replace("\n", " ")


MARKS = {"failed": "❌", "timeout": "⏱️", "crashed": "💥", "error": "❌", "passed": "✅", "xpassed": "✅",
         "xfailed": "⚠️", "skipped": "⏭️"}
VERDICT_MARKS = {"passed": "✅", "failed": "❌", "interrupted": "⏹️", "nothing checked": "⚠️"}
LEGEND = ("✓ passed, ✗ failed, timeout: the target ran past the time limit, crash: the target's process died, "
          "error: the test could not run, xfail: known torch divergence, xpass: an intermittent known divergence "
          "that did not show, skip: skipped; ulp: worst error in units in the last place of the dtype, "
          "rel: worst relative error, of the checks that passed or failed.")


def _shown(cell, json_name):
    """The failures a page shows, and the note when it leaves some out."""
    shown = cell["failures"][:MAX_FAILURES_SHOWN]
    more = (f", the first {len(shown)} shown (all {cell['failures_total']} in {json_name})"
            if len(shown) < cell["failures_total"] else "")
    return shown, more


def _failed_text(cell):
    return counts_text({k: cell["counts"][k] for k in FAILURES})


def to_markdown(report, json_name="conformance.json"):
    """GitHub-flavoured Markdown: the verdict, environment, the matrix and the failures."""
    env, result = report["environment"], report["verdict"]
    functions, columns = _axes(report)
    index = _index(report)
    out = [f"## Conformance report: `{env.get('target')}`", "",
           f"{VERDICT_MARKS[result['status']]} **{_md_escape(result['text'])}** "
           f"({env.get('cases')} cases in {env.get('duration_s', 0):.1f} s)", "",
           "<details><summary>Environment</summary>", "", "| | |", "|---|---|"]
    out += [f"| {k} | {_md_escape(v)} |" for k, v in _env_rows(env)]
    out += ["", "</details>", ""]
    multi_device = len({d for d, _ in columns}) > 1
    head = ["function"] + [(f"{_column_label(t)} ({d})" if multi_device else _column_label(t)) for d, t in columns]
    out += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for function in functions:
        row = [f"`{function}`"]
        for device, dtype in columns:
            cell = index.get((function, dtype, device))
            if cell is None:
                row.append("")
                continue
            mark = MARKS.get(cell["status"], "")
            text = f"{mark} {counts_text(cell['counts'], short=True)}"
            if dtype != ERROR_DTYPE and cell["worst_ulp"]:
                text += f"<br>≤ {_fmt_err(cell['worst_ulp'])} ulp"
                if cell["worst_rel"] is not None:
                    text += f", rel {_fmt_err(cell['worst_rel'])}"
            row.append(text)
        out.append("| " + " | ".join(row) + " |")
    out += ["", LEGEND, ""]
    failing = [c for c in report["cells"] if c["failures_total"]]
    if failing:
        out += [f"### Failures ({len(report['failures'])})", ""]
        for cell in failing:
            shown, more = _shown(cell, json_name)
            out += [f"<details><summary><code>{html.escape(cell['function'])}</code> "
                    f"{_column_label(cell['dtype'])} {cell['device']}: {_failed_text(cell)}{more}"
                    "</summary>", ""]
            for failure in shown:
                out += [f"**{failure['check']}** ({failure['status']}) `{failure['id']}`", "", "```",
                        failure_text(failure), "```", ""]
            out += ["</details>", ""]
    return "\n".join(out)


_CSS = """
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px;color:#1f2328;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px}
.verdict{font-size:16px;margin:8px 0 16px}.verdict b.bad{color:#b42318}.verdict b.good{color:#1a7f37}
.verdict b.none{color:#9a6700}
table{border-collapse:collapse}
table.env td{padding:2px 12px 2px 0;vertical-align:top}table.env td:first-child{color:#59636e;white-space:nowrap}
table.matrix th,table.matrix td{border:1px solid #d1d9e0;padding:4px 8px;vertical-align:top}
table.matrix thead th{background:#f6f8fa;position:sticky;top:0}
table.matrix th.fn{text-align:left;font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-weight:600;
white-space:nowrap}
td.cell{min-width:120px}
td.failed,td.timeout,td.crashed,td.error{background:#ffebe9}td.passed,td.xpassed{background:#dafbe1}td.xfailed{background:#fff8c5}
td.skipped,td.empty{background:#f6f8fa;color:#59636e}td.none{background:#fff}
.counts{font-weight:600}.counts .f{color:#b42318}.err{color:#59636e;font-size:12px}
details summary{cursor:pointer;color:#0969da;font-size:12px}
table.fam{margin-top:4px;font-size:12px}table.fam td{border:none;padding:0 8px 0 0;white-space:nowrap}
table.fam tr.family td{color:#59636e}
pre{background:#f6f8fa;border:1px solid #d1d9e0;padding:8px;overflow-x:auto;white-space:pre-wrap;
word-break:break-all;font-size:12px}
.failure{margin:0 0 12px}.legend{color:#59636e;font-size:12px;margin-top:6px}
a{color:#0969da}
"""


def _e(text):
    return html.escape(str(text), quote=True)


def cell_anchor(cell):
    dtype = "errors" if cell["dtype"] == ERROR_DTYPE else cell["dtype"]
    return f"fail-{cell['function']}-{dtype}-{cell['device']}"


def _counts_html(counts):
    parts = []
    for k in SHOWN_ORDER:
        if counts.get(k):
            cls = ' class="f"' if k in FAILURES else ""
            parts.append(f'<span{cls}>{counts[k]} {k}</span>')
    return ", ".join(parts) or "-"


def _html_cell(cell):
    attrs = (f'class="cell {cell["status"]}" data-function="{_e(cell["function"])}" '
             f'data-dtype="{_e(cell["dtype"])}" data-device="{_e(cell["device"])}" '
             + " ".join(f'data-{k}="{cell["counts"][k]}"' for k in STATUSES))
    body = [f'<div class="counts">{_counts_html(cell["counts"])}</div>']
    ran = cell["counts"]["passed"] + cell["counts"]["failed"]
    if cell["dtype"] != ERROR_DTYPE and ran:
        body.append(f'<div class="err">≤ {_fmt_err(cell["worst_ulp"])} ulp · rel {_fmt_err(cell["worst_rel"])}</div>')
    if cell["failures_total"]:
        body.append(f'<div><a href="#{_e(cell_anchor(cell))}">{cell["failures_total"]} failure'
                    f'{"s" if cell["failures_total"] != 1 else ""} ↓</a></div>')
    if cell["dtype"] != ERROR_DTYPE:
        rows = "".join(f'<tr><td>{_e(check)}</td><td>{_counts_html(counts)}</td><td></td></tr>'
                       for check, counts in cell["checks"].items() if any(counts.values()))
        rows += "".join(f'<tr class="family"><td>{_e(f["family"])}</td><td>{_counts_html(f["counts"])}</td>'
                        f'<td>{_fmt_err(f["worst_ulp"])} ulp</td></tr>' for f in cell["families"])
        body.append(f'<details><summary>by check, family</summary><table class="fam">{rows}</table>'
                    "</details>")
    return f"<td {attrs}>{''.join(body)}</td>"


def to_html(report, json_name="conformance.json"):
    """A self-contained page: inline CSS, no script, no external resource."""
    env, result = report["environment"], report["verdict"]
    functions, columns = _axes(report)
    index = _index(report)
    devices = []
    for device, _ in columns:
        if device not in devices:
            devices.append(device)
    per_device = len(columns) // max(len(devices), 1)
    tone = {"passed": "good", "nothing checked": "none"}.get(result["status"], "bad")
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f"<title>Conformance report: {_e(env.get('target'))}</title>", f"<style>{_CSS}</style></head><body>",
           f"<h1>Conformance report: <code>{_e(env.get('target'))}</code></h1>",
           f'<p class="verdict" id="verdict" data-status="{_e(result["status"])}"><b class="{tone}">'
           f'{VERDICT_MARKS[result["status"]]} {_e(result["text"])}</b> '
           f'({_e(env.get("cases"))} cases in {env.get("duration_s", 0):.1f} s)</p>',
           '<table class="matrix" id="matrix"><thead>']
    if len(devices) > 1:
        out.append('<tr><th rowspan="2">function</th>'
                   + "".join(f'<th colspan="{per_device}">{_e(d)}</th>' for d in devices) + "</tr><tr>")
        out.append("".join(f"<th>{_e(_column_label(t))}</th>" for _, t in columns) + "</tr>")
    else:
        out.append("<tr><th>function</th>" + "".join(f"<th>{_e(_column_label(t))}</th>" for _, t in columns)
                   + "</tr>")
    out.append("</thead><tbody>")
    for function in functions:
        row = [f'<tr><th class="fn">{_e(function)}</th>']
        for device, dtype in columns:
            cell = index.get((function, dtype, device))
            row.append(_html_cell(cell) if cell else '<td class="none"></td>')
        out.append("".join(row) + "</tr>")
    out += ["</tbody></table>",
            '<p class="legend">Each cell: the function\'s forward and backward checks in that dtype (the errors '
            "column: its invalid-input checks), passed / failed / timeout (past the time limit) / crashed (the "
            "target's process died) / error (could not run) / xfailed (known torch divergence) / xpassed "
            "(an intermittent known divergence that did not show) / "
            "skipped, and the worst error of the checks that passed or failed, in units in the last place of "
            "the dtype and relative. "
            "Option family: the case's non-normal value class, else its first non-default option.</p>"]
    out += ["<h2>Environment</h2>", '<table class="env" id="environment">']
    out += [f"<tr><td>{_e(k)}</td><td>{_e(v)}</td></tr>" for k, v in _env_rows(env)]
    out.append("</table>")
    failing = [c for c in report["cells"] if c["failures_total"]]
    if failing:
        out.append(f"<h2>Failures ({len(report['failures'])})</h2>")
        for cell in failing:
            shown, more = _shown(cell, json_name)
            out.append(f'<h3 id="{_e(cell_anchor(cell))}"><code>{_e(cell["function"])}</code> '
                       f'{_e(_column_label(cell["dtype"]))} on {_e(cell["device"])}: '
                       f'{_e(_failed_text(cell) + more)}</h3>')
            for failure in shown:
                out.append(f'<div class="failure"><div><b>{_e(failure["check"])}</b> ({_e(failure["status"])}) '
                           f'<code>{_e(failure["id"])}</code></div><pre>{_e(failure_text(failure))}</pre></div>')
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def write(report, directory, json_path=None):
    """Write ``conformance.{json,md,html}`` under ``directory``; returns the paths written."""
    os.makedirs(directory, exist_ok=True)
    paths = {"json": json_path or os.path.join(directory, "conformance.json"),
             "md": os.path.join(directory, "conformance.md"), "html": os.path.join(directory, "conformance.html")}
    json_name = os.path.basename(paths["json"])
    renderers = {"json": to_json, "md": lambda r: to_markdown(r, json_name), "html": lambda r: to_html(r, json_name)}
    for kind, path in paths.items():
        publish.write_text(path, renderers[kind](report))
    return paths


def check_writable(directory, json_path=None):
    """Raise OSError, saying which path and why, unless the report can be written: creates ``directory``
    (and the JSON file's directory) when missing, and creates and removes a file in each."""
    paths = [os.path.join(directory, "conformance.json") if json_path is None else json_path,
             os.path.join(directory, "conformance.md"), os.path.join(directory, "conformance.html")]
    for folder in dict.fromkeys(os.path.dirname(os.path.abspath(p)) for p in paths):
        try:
            os.makedirs(folder, exist_ok=True)
            fd, probe = tempfile.mkstemp(prefix=".conformance-", dir=folder)
            os.close(fd)
            os.remove(probe)
        except OSError as exc:
            raise OSError(exc.errno, f"cannot write the report in {folder}: {exc.strerror or exc}") from exc
    for path in paths:
        if os.path.isdir(path):
            raise OSError(f"cannot write the report to {path}: it is a directory")
        if os.path.exists(path) and not os.access(path, os.W_OK):
            raise OSError(f"cannot write the report to {path}: the file is read-only")
