"""The tally: every pytest test report of a run, counted once into its cell (function, dtype,
device), check and option family, with its status, worst error and failure message.

The process that runs a test attaches its cell to the test report (``conformance.plugin``'s
``pytest_runtest_makereport``), so the tally is the same with and without pytest-xdist; a report
without it (pytest-xdist's report of a crashed worker, made in the controller) is placed from
its node id.
"""

import re

from .. import ids
from .model import ERROR_DTYPE, FAILURES, PYTEST_COUNTS, REPORT_ATTRIBUTE, UNKNOWN_FAMILY, worse, zero_counts

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
        self.pytest = zero_counts(PYTEST_COUNTS)
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
            record["ulp"] = worse(None, _property(report, "max_ulp"))
            record["rel"] = worse(None, _property(report, "max_rel"))
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
