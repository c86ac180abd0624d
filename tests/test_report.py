"""Tests of the conformance report: the tally, its JSON, Markdown and HTML renderings, a planted
fault marked in the right cell by ``python -m conformance``, and the page in a real browser."""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from html.parser import HTMLParser

import pytest

from conformance import report as reporting

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHROMIUM = next((p for p in (shutil.which("chromium"), shutil.which("chromium-browser"), "/usr/bin/chromium")
                 if p and os.path.exists(p)), None)

# --- a synthetic run ------------------------------------------------------------------------


def _report(check, function, dtype, outcome, family="defaults", case_id=None, when="call", ulp=None, rel=None,
            message="", xfail=False, device="cpu"):
    case_id = case_id or f"{function}({dtype}, (4, 5))"
    properties = [("max_ulp", ulp)] if ulp is not None else []
    properties += [("max_rel", rel)] if rel is not None else []
    pytest_outcome = "skipped" if outcome in ("skipped", "xfailed") else outcome
    report = pytest.TestReport(f"conformance/test_conformance.py::test_{check}[{case_id}]", ("x", 0, "x"), {},
                        pytest_outcome, message or None, when, user_properties=properties)
    if xfail:
        report.wasxfail = "a known divergence"
    setattr(report, reporting.REPORT_ATTRIBUTE, {"function": function, "dtype": dtype, "device": device,
                                                 "check": check, "family": family, "id": case_id})
    # What pytest-xdist does between a worker and the controller.
    return pytest.TestReport._from_json(report._to_json())


FAILURE = ("output: got 2.1972, but should be 2.7466 at index ()\n"
           "call: F.softmax(torch.tensor([1.0, 2.0], dtype=torch.float64), dim=0)\n"
           'rerun: pytest "conformance/test_conformance.py::test_forward[softmax(float64, (2,), dim=0)]" --target x')


def _synthetic():
    summary = reporting.Summary("my_port.py")
    reports = [
        _report("forward", "softmax", "float64", "passed", ulp=0.5, rel=1e-16),
        _report("forward", "softmax", "float64", "failed", family="dim=0", case_id="softmax(float64, (2,), dim=0)",
                ulp=3.0e15, rel=0.2, message=FAILURE),
        _report("backward", "softmax", "float64", "passed", family="dim=0", ulp=2.0, rel=3e-16),
        _report("forward", "softmax", "float32", "passed", ulp=1.5),
        _report("forward", "softmax", "float32", "xfailed", family="values=extreme", xfail=True),
        _report("backward", "softmax", "float32", "skipped", when="setup"),
        _report("error", "softmax", "-", "failed", family="errors", case_id="softmax((3, 4), dim=2)",
                message="did not raise, but should raise IndexError\ncall: F.softmax(x, dim=2)"),
        _report("forward", "nll_loss", "float64", "passed", ulp=1.0),
        _report("error", "nll_loss", "-", "passed", family="errors", case_id="nll_loss(bad)"),
        _report("forward", "nll_loss", "float32", "passed", xfail=True),  # a non-strict XPASS
    ]
    for r in reports:
        if r.when == "call":  # the setup phase of a test that ran: not counted
            summary.pytest_runtest_logreport(pytest.TestReport(r.nodeid, r.location, {}, "passed", None, "setup"))
        summary.pytest_runtest_logreport(r)
    env = reporting.environment("my_port.py", "cpu", "float64,float32", "softmax", None)
    return reporting.build(summary, env, 1.5)


def _cell(report, function, dtype, device="cpu"):
    return next(c for c in report["cells"] if (c["function"], c["dtype"], c["device"]) == (function, dtype, device))


def test_tally_per_cell_check_and_family():
    report = _synthetic()
    assert report["schema"] == reporting.SCHEMA
    cell = _cell(report, "softmax", "float64")
    assert cell["status"] == "failed"
    assert cell["checks"]["forward"] == {"passed": 1, "failed": 1, "skipped": 0, "xfailed": 0, "xpassed": 0}
    assert cell["checks"]["backward"]["passed"] == 1
    assert cell["worst_ulp"] == 3.0e15 and cell["worst_rel"] == 0.2
    families = {f["family"]: f for f in cell["families"]}
    assert families["dim=0"]["counts"]["failed"] == 1 and families["dim=0"]["worst_ulp"] == 3.0e15
    assert families["defaults"]["worst_ulp"] == 0.5
    failure = cell["failures"][0]
    assert failure["call"].startswith("F.softmax(")
    assert failure["rerun"].startswith('pytest "conformance/')  # the message's own rerun line
    low = _cell(report, "softmax", "float32")
    assert low["counts"] == {"passed": 1, "failed": 0, "skipped": 1, "xfailed": 1, "xpassed": 0}
    assert low["status"] == "passed"
    assert low["worst_rel"] is None  # not recorded
    errors = _cell(report, "softmax", "-")
    assert errors["checks"]["error"]["failed"] == 1
    assert errors["failures"][0]["rerun"] == (
        'pytest --pyargs "conformance.test_conformance::test_error[softmax((3, 4), dim=2)]" '
        "--conformance-target=my_port.py")
    assert _cell(report, "nll_loss", "float64")["status"] == "passed"
    assert _cell(report, "nll_loss", "float32")["counts"]["xpassed"] == 1
    assert report["totals"] == {"passed": 5, "failed": 2, "skipped": 1, "xfailed": 1, "xpassed": 1}
    assert report["environment"]["cases"] == 7 and report["environment"]["checks"] == 10
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


# --- the real command, with a planted fault -------------------------------------------------


@pytest.fixture(scope="module")
def planted_run():
    """``python -m conformance`` against a softmax that normalises over the wrong dim."""
    directory = tempfile.mkdtemp(prefix="conformance-report-")
    command = [sys.executable, "-m", "conformance", "--target", os.path.join("tests", "ports", "softmax_wrong_dim.py"),
               "-k", "softmax", "--dtype", "float64", "--report-dir", directory]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
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
