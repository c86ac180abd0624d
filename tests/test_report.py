"""Tests of the conformance report: the tally, its JSON, Markdown and HTML renderings, a planted
fault marked in the right cell by ``python -m conformance``, and the page in a real browser."""

import json
import os
import re
import shutil
import subprocess
import tempfile
from html.parser import HTMLParser

import pytest

from conformance import report as reporting
from tests.cli import conformance

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHROMIUM = next((p for p in (shutil.which("chromium"), shutil.which("chromium-browser"), "/usr/bin/chromium")
                 if p and os.path.exists(p)), None)

# --- a synthetic run ------------------------------------------------------------------------


def _report(check, function, dtype, outcome, family="defaults", case_id=None, when="call", ulp=None, rel=None,
            message="", xfail=False, device="cpu", status=None, reason="not provided by target", attribute=True,
            worker=None):
    """A test report as the controller receives it; ``status``: the harness's finer status of a failure,
    ``worker``: the pytest-xdist worker id it came from (its header line starts the message)."""
    case_id = case_id or f"{function}({dtype}, (4, 5)" + ("" if device == "cpu" else f", device={device!r}") + ")"
    properties = [("max_ulp", ulp)] if ulp is not None else []
    properties += [("max_rel", rel)] if rel is not None else []
    properties += [("status", status)] if status is not None else []
    pytest_outcome = "skipped" if outcome in ("skipped", "xfailed") else outcome
    longrepr = message or None
    if outcome == "skipped" and not xfail:
        longrepr = ("conformance/test_conformance.py", 20, f"Skipped: {reason}")
    report = pytest.TestReport(f"conformance/test_conformance.py::test_{check}[{case_id}]", ("x", 0, "x"), {},
                               pytest_outcome, longrepr, when, user_properties=properties)
    if xfail:
        report.wasxfail = "a known divergence"
    if attribute:
        setattr(report, reporting.REPORT_ATTRIBUTE, {"function": function, "dtype": dtype, "device": device,
                                                     "check": check, "family": family, "id": case_id})
    # What pytest-xdist does between a worker and the controller.
    report = pytest.TestReport._from_json(report._to_json())
    if worker is not None:
        report.node = _Worker(worker)
    return report


class _Worker:
    """What pytest-xdist attaches to a report as ``node``: its longreprtext then starts with a header line."""

    def __init__(self, name):
        self.workerinfo = {"id": name, "sysplatform": "linux", "version_info": (3, 11, 7),
                           "executable": f"/venvs/{name}/bin/python"}


def _summary(reports, target="my_port.py"):
    """A Summary fed ``reports`` as pytest would: a passed setup before each call, a passed teardown after."""
    summary = reporting.Summary(target)
    for r in reports:
        if r.when == "call":
            summary.pytest_runtest_logreport(pytest.TestReport(r.nodeid, r.location, {}, "passed", None, "setup"))
        summary.pytest_runtest_logreport(r)
        if r.when == "call":
            summary.pytest_runtest_logreport(pytest.TestReport(r.nodeid, r.location, {}, "passed", None, "teardown"))
    return summary


def _build(reports, interrupted=False, target="my_port.py"):
    env = reporting.environment(target, "cpu", "float64,float32", None, None)
    return reporting.build(_summary(reports, target), env, 1.5, interrupted=interrupted)


def _zeros(**counts):
    return {**dict.fromkeys(reporting.STATUSES, 0), **counts}


FAILURE = ("output: got 2.1972, but should be 2.7466 at index ()\n"
           "call: F.softmax(torch.tensor([1.0, 2.0], dtype=torch.float64), dim=0)\n"
           'rerun: pytest "conformance/test_conformance.py::test_forward[softmax(float64, (2,), dim=0)]" --target x')


def _synthetic_reports():
    return [
        _report("forward", "softmax", "float64", "passed", ulp=0.5, rel=1e-16),
        _report("forward", "softmax", "float64", "failed", family="dim=0", case_id="softmax(float64, (2,), dim=0)",
                ulp=3.0e15, rel=0.2, message=FAILURE),
        _report("backward", "softmax", "float64", "passed", family="dim=0", ulp=2.0, rel=3e-16),
        _report("forward", "softmax", "float32", "passed", ulp=1.5),
        _report("forward", "softmax", "float32", "xfailed", family="values=extreme", xfail=True,
                case_id="softmax(float32, (4, 5), values=extreme)"),
        _report("backward", "softmax", "float32", "skipped", when="setup"),
        _report("error", "softmax", "-", "failed", family="errors", case_id="softmax((3, 4), dim=2)",
                message="did not raise, but should raise IndexError\ncall: F.softmax(x, dim=2)"),
        _report("forward", "nll_loss", "float64", "passed", ulp=1.0),
        _report("error", "nll_loss", "-", "passed", family="errors", case_id="nll_loss(bad)"),
        _report("forward", "nll_loss", "float32", "passed", xfail=True),  # a non-strict XPASS
    ]


def _synthetic():
    env = reporting.environment("my_port.py", "cpu", "float64,float32", "softmax", None)
    return reporting.build(_summary(_synthetic_reports()), env, 1.5)


def _cell(report, function, dtype, device="cpu"):
    return next(c for c in report["cells"] if (c["function"], c["dtype"], c["device"]) == (function, dtype, device))


def test_tally_per_cell_check_and_family():
    report = _synthetic()
    assert report["schema"] == reporting.SCHEMA
    cell = _cell(report, "softmax", "float64")
    assert cell["status"] == "failed"
    assert cell["checks"]["forward"] == _zeros(passed=1, failed=1)
    assert cell["checks"]["backward"]["passed"] == 1
    assert cell["worst_ulp"] == 3.0e15 and cell["worst_rel"] == 0.2
    families = {f["family"]: f for f in cell["families"]}
    assert families["dim=0"]["counts"]["failed"] == 1 and families["dim=0"]["worst_ulp"] == 3.0e15
    assert families["defaults"]["worst_ulp"] == 0.5
    failure = cell["failures"][0]
    assert failure["call"].startswith("F.softmax(")
    assert failure["rerun"].startswith('pytest "conformance/')  # the message's own rerun line
    low = _cell(report, "softmax", "float32")
    assert low["counts"] == _zeros(passed=1, skipped=1, xfailed=1)
    assert low["skip_reasons"] == {"not provided by target": 1}
    assert low["status"] == "passed"
    assert low["worst_rel"] is None  # not recorded
    errors = _cell(report, "softmax", "-")
    assert errors["checks"]["error"]["failed"] == 1
    assert errors["failures"][0]["rerun"] == (
        'pytest --pyargs "conformance.test_conformance::test_error[softmax((3, 4), dim=2)]" '
        "--conformance-target=my_port.py")
    assert _cell(report, "nll_loss", "float64")["status"] == "passed"
    assert _cell(report, "nll_loss", "float32")["counts"]["xpassed"] == 1
    assert report["totals"] == _zeros(passed=5, failed=2, skipped=1, xfailed=1, xpassed=1)
    assert report["pytest"] == {"passed": 5, "failed": 2, "skipped": 1, "xfailed": 1, "xpassed": 1, "errors": 0}
    assert report["verdict"]["status"] == "failed" and report["verdict"]["exit_code"] == 1
    assert report["environment"]["cases"] == 8 and report["environment"]["checks"] == 10
    assert report["environment"]["dtypes"] == ["float64", "float32"]
    assert "crc32" in report["environment"]["seed_policy"]


def test_json_is_strict_and_round_trips():
    report = _synthetic()
    text = reporting.to_json(report)
    assert json.loads(text) == json.loads(json.dumps(report))
    assert "NaN" not in text and "Infinity" not in text


def test_markdown_has_the_matrix_and_the_reproducers():
    text = reporting.to_markdown(_synthetic())
    assert "| function | float64 | float32 | errors |" in text
    row = next(line for line in text.splitlines() if line.startswith("| `softmax`"))
    assert "❌ 2 ✓, 1 ✗" in row
    assert "❌ **failed: 2 failed; 5 passed, 1 xfailed, 1 xpassed, 1 skipped (1 not provided by target) " \
           "of 10 checks** (8 cases in 1.5 s)" in text
    assert "all checks pass" not in text.lower()
    assert "call: F.softmax(torch.tensor([1.0, 2.0]" in text and 'rerun: pytest "conformance/' in text


class MatrixParser(HTMLParser):
    """The matrix of a report page: column headers, and each cell's attributes and text by (row, column)."""

    def __init__(self):
        super().__init__()
        self.headers, self.cells, self.tags = [], {}, set()
        self._in_matrix = self._in_head = False
        self._row, self._column, self._cell, self._th = None, 0, None, None
        self._nested = 0  # td elements of the tables inside a cell
        self.external = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.add(tag)
        for name in ("src", "href"):
            if attrs.get(name, "").startswith(("http:", "https:", "//")):
                self.external.append(attrs[name])
        if tag == "table" and attrs.get("id") == "matrix":
            self._in_matrix = True
        elif not self._in_matrix:
            return
        elif self._cell is not None:
            self._nested += tag == "td"
        elif tag == "thead":
            self._in_head = True
        elif tag == "tr" and not self._in_head:
            self._row, self._column = None, 0
        elif tag == "th":
            self._th = ""
        elif tag == "td":
            self._cell = {"attrs": attrs, "text": ""}

    def handle_endtag(self, tag):
        if not self._in_matrix:
            return
        if self._cell is not None and tag != "td":
            return
        if tag == "table":
            self._in_matrix = False
        elif tag == "thead":
            self._in_head = False
        elif tag == "th" and self._th is not None:
            if self._in_head:
                self.headers.append(self._th.strip())
            else:
                self._row = self._th.strip()
            self._th = None
        elif tag == "td" and self._nested:
            self._nested -= 1
        elif tag == "td" and self._cell is not None:
            self._column += 1
            self.cells[(self._row, self.headers[self._column])] = self._cell
            self._cell = None

    def handle_data(self, data):
        if self._th is not None:
            self._th += data
        elif self._cell is not None:
            self._cell["text"] += data


def parse_matrix(page):
    parser = MatrixParser()
    parser.feed(page)
    return parser


def test_html_matrix_is_self_contained_and_has_every_cell():
    page = reporting.to_html(_synthetic())
    parsed = parse_matrix(page)
    assert parsed.headers == ["function", "float64", "float32", "errors"]
    assert not parsed.external and "script" not in parsed.tags and "link" not in parsed.tags
    failed = parsed.cells[("softmax", "float64")]
    assert "failed" in failed["attrs"]["class"].split()
    assert failed["attrs"]["data-failed"] == "1" and failed["attrs"]["data-passed"] == "2"
    assert "1 failed" in failed["text"] and "3e+15 ulp" in failed["text"] and "rel 0.2" in failed["text"]
    assert "dim=0" in failed["text"]  # the option-family breakdown
    assert "passed" in parsed.cells[("softmax", "float32")]["attrs"]["class"].split()
    assert "failed" in parsed.cells[("softmax", "errors")]["attrs"]["class"].split()
    assert "xpassed" in parsed.cells[("nll_loss", "float32")]["attrs"]["class"].split()
    assert "passed" in parsed.cells[("nll_loss", "errors")]["attrs"]["class"].split()
    assert 'id="fail-softmax-float64-cpu"' in page and 'href="#fail-softmax-float64-cpu"' in page
    assert "rerun: pytest &quot;conformance/test_conformance.py::test_forward[softmax(float64, (2,), dim=0)]" in page


def test_html_has_a_device_row_when_several_devices_ran():
    summary = reporting.Summary()
    for device in ("cpu", "cuda"):
        summary.pytest_runtest_logreport(_report("forward", "softmax", "float32", "passed", device=device))
    report = reporting.build(summary, reporting.environment("t", "all", "float32"), 1.0)
    parsed = parse_matrix(reporting.to_html(report))
    assert parsed.headers == ["function", "cpu", "cuda", "float32", "float32"]
    assert "| function | float32 (cpu) | float32 (cuda) |" in reporting.to_markdown(report)


# --- statuses, totals, order, verdict -----------------------------------------------------

TIMEOUT = ("timed out after 5 s in soft_margin_loss(float32, (4, 5))\n"
           "call: F.soft_margin_loss(x, y)\n"
           'rerun: pytest --pyargs "conformance.test_conformance::test_forward[soft_margin_loss(float32, (4, 5))]"')


def _crash_report(case_id, check="forward", worker="gw0", device_suffix=""):
    """pytest-xdist's report of a worker that died: made in the controller, without the plugin's attribute."""
    nodeid = f"conformance/test_conformance.py::test_{check}[{case_id}]"
    report = pytest.TestReport(nodeid, ("conformance/test_conformance.py", None, "conformance/test_conformance.py"),
                               {}, "failed", f"worker {worker!r} crashed while running {nodeid!r}", "???")
    report.node = _Worker(worker)
    return report


def _statuses():
    return [
        _report("forward", "mse_loss", "float32", "passed", case_id="mse_loss(float32, (4, 5))", ulp=1.0),
        _report("forward", "mse_loss", "float32", "failed", case_id="mse_loss(float32, (4,))", message=FAILURE),
        _report("forward", "soft_margin_loss", "float32", "failed", message=TIMEOUT, status="timeout"),
        _report("backward", "soft_margin_loss", "float32", "failed", status="crashed",
                message="target crashed (signal 11) in soft_margin_loss(float32, (4, 5))\ncall: F.x(y)"),
        _report("forward", "mse_loss", "float64", "failed", status="error", message="could not start the worker"),
        _report("backward", "mse_loss", "float64", "failed", when="setup", message="fixture 'checker' failed"),
        _report("backward", "mse_loss", "float32", "skipped", when="setup", reason="CUDA is not available"),
        _report("forward", "mse_loss", "float16", "xfailed", xfail=True),
        _report("forward", "mse_loss", "bfloat16", "passed", xfail=True),
        _report("backward", "mse_loss", "bfloat16", "failed", message="[XPASS(strict)] a known divergence"),
    ]


def test_each_status_is_tallied():
    report = _build(_statuses())
    assert report["totals"] == _zeros(passed=1, failed=2, timeout=1, crashed=1, error=2, skipped=1, xfailed=1,
                                      xpassed=1)
    assert set(report["totals"]) == set(reporting.STATUSES)
    timeout = _cell(report, "soft_margin_loss", "float32")
    assert timeout["checks"]["forward"] == _zeros(timeout=1) and timeout["checks"]["backward"] == _zeros(crashed=1)
    assert timeout["status"] == "timeout"
    assert [(f["check"], f["status"]) for f in timeout["failures"]] == [("backward", "crashed"), ("forward", "timeout")]
    assert timeout["failures"][1]["message"].startswith("timed out after 5 s")
    assert timeout["failures"][1]["rerun"].startswith('pytest --pyargs "conformance.test_conformance::test_forward')
    assert timeout["failures"][0]["call"] == "F.x(y)"
    assert _cell(report, "mse_loss", "float64")["counts"] == _zeros(error=2)
    assert report["pytest"] == {"passed": 1, "failed": 5, "skipped": 1, "xfailed": 1, "xpassed": 1, "errors": 1}
    # pytest's failed = failed + timeout + crashed + the harness's call-phase error; its errors = the setup error
    totals = report["totals"]
    assert report["pytest"]["failed"] == totals["failed"] + totals["timeout"] + totals["crashed"] + 1


def test_a_crashed_worker_is_counted_from_its_node_id():
    reports = [
        _report("forward", "cross_entropy", "float32", "passed", case_id="cross_entropy(float32, (4, 5))"),
        _crash_report("cross_entropy(float32, (4, 5), reduction='sum', values=extreme)"),
        _crash_report("nll_loss(float16, (4, 5), device='cuda')", check="backward", worker="gw1"),
        _crash_report("softmax((3, 4), dim=2)", check="error"),
    ]
    plain = pytest.TestReport("conformance/test_conformance.py::test_forward[mse_loss(bfloat16, (3,))]",
                              ("x", 0, "x"), {}, "failed", "something went wrong", "call")
    report = _build(reports + [plain])
    assert report["environment"]["checks"] == 5 == sum(report["totals"].values())
    crashed = _cell(report, "cross_entropy", "float32")
    assert crashed["counts"] == _zeros(passed=1, crashed=1)
    assert {f["family"] for f in crashed["families"]} == {"defaults", "unknown"}
    failure = crashed["failures"][0]
    assert failure["status"] == "crashed" and failure["check"] == "forward"
    assert failure["id"] == "cross_entropy(float32, (4, 5), reduction='sum', values=extreme)"
    assert failure["message"].startswith("worker 'gw0' crashed while running")
    assert "[gw0] linux" not in failure["message"]
    assert failure["rerun"] == ('pytest --pyargs "conformance.test_conformance::test_forward[cross_entropy(float32, '
                                "(4, 5), reduction='sum', values=extreme)]\" --conformance-target=my_port.py")
    cuda = _cell(report, "nll_loss", "float16", "cuda")
    assert cuda["checks"]["backward"] == _zeros(crashed=1)
    assert cuda["failures"][0]["rerun"].endswith("--conformance-device=cuda")
    assert _cell(report, "softmax", "-")["checks"]["error"] == _zeros(crashed=1)
    assert _cell(report, "mse_loss", "bfloat16")["counts"] == _zeros(failed=1)
    assert report["pytest"]["failed"] == 4


def test_totals_count_every_test_once():
    nodeid_of = {}
    reports = _synthetic_reports() + _statuses()
    summary = _summary(reports)
    # A failing teardown after a passed call: the test counts once, as error (pytest: 1 passed and 1 error).
    passed = reports[0]
    summary.pytest_runtest_logreport(pytest.TestReport(passed.nodeid, passed.location, {}, "failed", "teardown boom",
                                                       "teardown", user_properties=passed.user_properties))
    # After a failed call: not counted again (pytest counts one more error).
    failed = reports[1]
    summary.pytest_runtest_logreport(pytest.TestReport(failed.nodeid, failed.location, {}, "failed", "teardown boom",
                                                       "teardown"))
    report = reporting.build(summary, reporting.environment("t", "cpu", "all"), 1.0)
    for r in reports:
        nodeid_of[r.nodeid] = r
    assert report["environment"]["checks"] == len(nodeid_of) == len(reports) == sum(report["totals"].values())
    assert reporting.summed(c["counts"] for c in report["cells"]) == report["totals"]
    for cell in report["cells"]:
        assert reporting.summed(cell["checks"].values()) == cell["counts"]
        assert reporting.summed(f["counts"] for f in cell["families"]) == cell["counts"]
    softmax = _cell(report, "softmax", "float64")
    assert softmax["counts"] == _zeros(passed=1, failed=1, error=1)
    assert softmax["worst_ulp"] == 3.0e15  # the errored test's 0.5 is no longer a judged result
    assert {f["family"]: f["worst_ulp"] for f in softmax["families"]}["defaults"] is None
    assert [(f["status"], f["message"]) for f in softmax["failures"]][1] == ("error", "teardown boom")
    totals, counted = report["totals"], report["pytest"]
    assert counted["passed"] == totals["passed"] + 1  # the pass the teardown error replaced
    assert counted["errors"] == 1 + 2  # the setup error; both teardown errors
    assert sum(counted.values()) == report["environment"]["checks"] + 2


def _worker_run(workers):
    """The reports of one run, as seen with ``workers`` pytest-xdist workers: each report carries its
    worker's header line, and they arrive in an order that depends on the scheduling."""
    reports = []
    for i, r in enumerate(_synthetic_reports() + _statuses()):
        if workers:
            r.node = _Worker(f"gw{i % workers}")
        reports.append(r)
    return reports if workers < 2 else reports[1::2] + reports[::2]


def _without_environment(report):
    return json.loads(reporting.to_json({**report, "environment": None}))


def test_report_does_not_depend_on_the_worker_count():
    serial, parallel = _build(_worker_run(0)), _build(_worker_run(2))
    assert any("[gw1] linux" in r.longreprtext for r in _worker_run(2) if r.failed)
    assert _without_environment(serial) == _without_environment(parallel)
    assert "[gw" not in reporting.to_json(parallel)
    assert parallel["failures"] == sorted(parallel["failures"])
    for cell in parallel["cells"]:
        assert [f["test"] for f in cell["failures"]] == sorted(f["test"] for f in cell["failures"])


def test_every_failure_is_kept_in_the_json(tmp_path):
    reports = [_report("forward", "huber_loss", "float32", "failed", case_id=f"huber_loss(float32, ({n},))",
                       message=f"output: got 1, but should be 2\ncall: F.huber_loss(x{n}, y)") for n in range(25)]
    report = _build(reports)
    cell = _cell(report, "huber_loss", "float32")
    assert cell["failures_total"] == len(cell["failures"]) == 25 == len(report["failures"])
    assert all(f["call"] and f["rerun"] and f["status"] == "failed" for f in cell["failures"])
    text = reporting.to_markdown(report)
    assert "25 failed, the first 20 shown (all 25 in conformance.json)" in text
    assert text.count("**forward** (failed)") == 20
    page = reporting.to_html(report)
    assert "all 25 in conformance.json" in page and page.count('<div class="failure">') == 20
    paths = reporting.write(report, str(tmp_path), str(tmp_path / "run.json"))
    with open(paths["md"], encoding="utf-8") as f:
        assert "(all 25 in run.json)" in f.read()
    with open(paths["json"], encoding="utf-8") as f:
        assert len(json.load(f)["cells"][0]["failures"]) == 25


def test_error_columns_come_from_judged_checks_only():
    reports = [
        _report("forward", "multi_margin_loss", "float32", "passed", ulp=2.0, rel=1e-7),
        _report("forward", "multi_margin_loss", "float32", "failed", case_id="multi_margin_loss(float32, (2, 3))",
                ulp=40.0, rel=1e-5, message=FAILURE),
        _report("forward", "multi_margin_loss", "float32", "xfailed", xfail=True, ulp=1.03e21, rel=1e14,
                case_id="multi_margin_loss(float32, (4, 5), margin=2.0)", family="margin=2.0"),
        _report("backward", "multi_margin_loss", "float32", "passed", xfail=True, ulp=9e20, rel=1e13),
        _report("backward", "multi_margin_loss", "float32", "failed", status="timeout", ulp=7e20, rel=1e12,
                case_id="multi_margin_loss(float32, (2, 3))", message=TIMEOUT),
    ]
    cell = _cell(_build(reports), "multi_margin_loss", "float32")
    assert cell["worst_ulp"] == 40.0 and cell["worst_rel"] == 1e-5
    families = {f["family"]: f for f in cell["families"]}
    assert families["defaults"]["worst_ulp"] == 40.0
    assert families["margin=2.0"]["worst_ulp"] is None and families["margin=2.0"]["counts"]["xfailed"] == 1


def test_verdict_failed_counts_each_kind():
    result = _build(_statuses())["verdict"]
    assert result == {"status": "failed", "exit_code": 1,
                      "text": "failed: 2 failed, 1 timed out, 1 crashed, 2 errors; 1 passed, 1 xfailed, 1 xpassed, "
                              "1 skipped (1 CUDA is not available) of 10 checks"}


def test_verdict_nothing_checked_counts_the_skip_reasons():
    reports = [_report("forward", f, "float32", "skipped", reason="not provided by target") for f in ("a", "b", "c")]
    reports.append(_report("forward", "d", "float32", "skipped", reason="CUDA is not available"))
    reports.append(_report("forward", "e", "float32", "xfailed", xfail=True))
    report = _build(reports)
    assert report["skip_reasons"] == {"CUDA is not available": 1, "not provided by target": 3}
    assert _cell(report, "a", "float32")["skip_reasons"] == {"not provided by target": 1}
    assert report["verdict"] == {
        "status": "nothing checked", "exit_code": 5,
        "text": "nothing was checked: 1 xfailed, 4 skipped (3 not provided by target, 1 CUDA is not available) "
                "of 5 checks"}
    assert _build([])["verdict"] == {"status": "nothing checked", "exit_code": 5,
                                     "text": "nothing was checked: no check was selected"}
    for page in (reporting.to_markdown(report), reporting.to_html(report), reporting.render_verdict(report)):
        assert "nothing was checked" in page and "all checks pass" not in page.lower()
    assert 'data-status="nothing checked"' in reporting.to_html(report)


def test_verdict_passed_lists_the_skips():
    reports = [_report("forward", "mse_loss", "float32", "passed"),
               _report("backward", "mse_loss", "float32", "skipped", reason="needs torch >= 1.10"),
               _report("forward", "mse_loss", "float16", "xfailed", xfail=True)]
    report = _build(reports)
    assert report["verdict"] == {"status": "passed", "exit_code": 0,
                                 "text": "passed: 1 passed, 1 xfailed, 1 skipped (1 needs torch >= 1.10) of 3 checks"}
    assert "✅ **passed: 1 passed, 1 xfailed" in reporting.to_markdown(report)
    assert '<b class="good">✅ passed: 1 passed, 1 xfailed' in reporting.to_html(report)


def test_verdict_interrupted_keeps_the_partial_counts():
    report = _build(_synthetic_reports(), interrupted=True)
    assert report["interrupted"] is True and report["totals"]["failed"] == 2
    assert report["verdict"]["status"] == "interrupted" and report["verdict"]["exit_code"] == 2
    assert report["verdict"]["text"].startswith("interrupted after 10 checks: 2 failed, 5 passed")
    summary = _summary(_statuses()[:1])
    summary.pytest_keyboard_interrupt(None)
    assert reporting.build(summary, {}, 0.1)["verdict"]["status"] == "interrupted"
    assert reporting.render_verdict(report).splitlines()[0] == report["verdict"]["text"]


def test_render_verdict_lists_failures_with_their_status():
    text = reporting.render_verdict(_build(_statuses()), limit=3)
    lines = text.splitlines()
    assert lines[0].startswith("failed: 2 failed, 1 timed out")
    assert lines[1] == "the first 3 of 6 failures (all in the report):"
    assert lines[2:] == ["  failed: test_backward[mse_loss(bfloat16, (4, 5))]",
                         "  error: test_backward[mse_loss(float64, (4, 5))]",
                         "  crashed: test_backward[soft_margin_loss(float32, (4, 5))]"]


def test_the_plugin_is_a_valid_pytest_plugin_and_the_report_no_plugin_at_all():
    from conformance import plugin

    manager = pytest.PytestPluginManager()
    manager.register(plugin)
    manager.check_pending()  # a module-level pytest_* name that is not a hook fails here
    names = [n for module in (reporting.model, reporting.tally, reporting.render) for n in vars(module)]
    assert not [n for n in names if n.startswith("pytest_")]  # the report's hook lives with the plugin


def test_check_writable(tmp_path):
    reporting.check_writable(str(tmp_path / "new" / "reports"))
    assert (tmp_path / "new" / "reports").is_dir() and not list((tmp_path / "new" / "reports").iterdir())
    (tmp_path / "file").write_text("")
    with pytest.raises(OSError, match="cannot write the report in .*file"):
        reporting.check_writable(str(tmp_path / "file" / "reports"))
    with pytest.raises(OSError, match="cannot write the report in .*file"):
        reporting.check_writable(str(tmp_path / "ok"), str(tmp_path / "file" / "run.json"))
    (tmp_path / "ok" / "conformance.md").mkdir(parents=True)
    with pytest.raises(OSError, match="it is a directory"):
        reporting.check_writable(str(tmp_path / "ok"))


# --- the real command, with a planted fault -------------------------------------------------


@pytest.fixture(scope="module")
def planted_run():
    """``python -m conformance`` against a softmax that normalises over the wrong dim."""
    directory = tempfile.mkdtemp(prefix="conformance-report-")
    result = conformance(["--target", os.path.join("tests", "ports", "softmax_wrong_dim.py"), "-k", "softmax",
                          "--dtype", "float64", "--report-dir", directory], ROOT)
    yield result, directory
    shutil.rmtree(directory, ignore_errors=True)


def test_planted_fault_fails_in_its_cell_only(planted_run):
    result, directory = planted_run
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:]
    with open(os.path.join(directory, "conformance.json")) as f:
        report = json.load(f)
    assert report["schema"] == reporting.SCHEMA
    assert report["environment"]["target"].endswith("softmax_wrong_dim.py")
    assert report["environment"]["dtypes"] == ["float64"] and report["environment"]["cases"] > 0
    cells = {(c["function"], c["dtype"], c["device"]): c for c in report["cells"]}
    wrong = cells[("softmax", "float64", "cpu")]
    assert wrong["checks"]["forward"]["failed"] > 0 and wrong["checks"]["forward"]["passed"] > 0
    assert all(f["call"] and f["rerun"] for f in wrong["failures"])
    for key, cell in cells.items():
        if key[0] != "softmax":
            assert cell["counts"]["failed"] == 0, key  # log_softmax: not provided, so skipped
    assert cells[("log_softmax", "float64", "cpu")]["status"] == "skipped"
    assert re.search(r"\nsoftmax +float64 +cpu +\d+ passed, \d+ failed", result.stdout)
    assert "report written to" in result.stdout
    for name in ("conformance.md", "conformance.html"):
        assert os.path.getsize(os.path.join(directory, name)) > 0


def test_planted_fault_html_marks_the_cell(planted_run):
    _, directory = planted_run
    with open(os.path.join(directory, "conformance.html"), encoding="utf-8") as f:
        parsed = parse_matrix(f.read())
    assert "failed" in parsed.cells[("softmax", "float64")]["attrs"]["class"].split()
    assert "skipped" in parsed.cells[("log_softmax", "float64")]["attrs"]["class"].split()


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_planted_fault_page_in_a_headless_browser(planted_run):
    _, directory = planted_run
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    try:
        dom = subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}", "--dump-dom", "file://" + os.path.join(directory, "conformance.html")],
            capture_output=True, text=True, timeout=120).stdout
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    parsed = parse_matrix(dom)
    assert parsed.headers == ["function", "float64", "errors"]
    cell = parsed.cells[("softmax", "float64")]
    assert "failed" in cell["attrs"]["class"].split() and int(cell["attrs"]["data-failed"]) > 0
    assert "failed" in cell["text"]
    assert "skipped" in parsed.cells[("log_softmax", "float64")]["attrs"]["class"].split()
