"""The conformance report: one data model, written as JSON, Markdown and a self-contained HTML page.

``python -m conformance`` tallies every test report into a :class:`Summary`, turns it into a
plain dict with :func:`build` and writes that dict three ways: :func:`to_json`,
:func:`to_markdown` (for pull requests and issues) and :func:`to_html` (a single file with
inline CSS, no script and no network access: a matrix of function x dtype per device).

This module is also a pytest plugin (``-p conformance.report``): on the process that runs
a test, it attaches the test's cell (function, dtype, device), check and option family to
the test report, so the tally is the same with and without pytest-xdist, whose workers send
their reports to the controller.

JSON schema (``"schema": 2``)::

    {
      "schema": 2,
      "environment": {
        "target": "torch.nn.functional",     # --target
        "torch": "2.13.0+cpu", "numpy": "2.4.6", "python": "3.11.2",
        "platform": "Linux-...-x86_64",
        "device": "cpu",                     # --device: cpu, cuda or all
        "device_name": "Intel(R) Xeon(R) ...",  # the CPU's model, then each GPU's name
        "dtypes": ["float64", "float32", "float16", "bfloat16"],   # --dtype
        "selection": "softmax" | null,       # -k
        "functions": ["mse_loss"] | null,     # --function
        "workers": "2" | null,               # -n
        "seed_policy": "...",                # a case's data seed: crc32 of its id without the device
        "cases": 22083,                      # distinct cases and error cases run
        "checks": 44284,                     # test reports tallied (forward + backward + error)
        "duration_s": 123.4,                 # wall time of the pytest run
        "started": "2025-01-01T12:00:00+00:00"
      },
      "totals": {"passed": 0, "failed": 0, "skipped": 0, "xfailed": 0, "xpassed": 0},
      "cells": [                             # one per (function, dtype, device), sorted;
        {                                    # dtype "-" holds the error cases (run in float32)
          "function": "softmax", "dtype": "float64", "device": "cpu",
          "status": "passed",                # failed, else passed, xpassed, xfailed, skipped, empty: the first present
          "counts": {"passed": 0, "failed": 0, "skipped": 0, "xfailed": 0, "xpassed": 0},
          "checks": {"forward": {<counts>}, "backward": {<counts>}, "error": {<counts>}},
          "worst_ulp": 0.5,                  # worst finite error of the cell in ULPs of the dtype
          "worst_rel": 1e-16 | null,         # worst finite relative error (null: not recorded)
          "families": [                      # the cell's cases by option family: "values=<class>" for a
            {"family": "reduction='sum'",    # non-normal value class, else the first non-default
             "counts": {<counts>},           # option, else "defaults"; errors: "errors"
             "worst_ulp": 0.5, "worst_rel": null}
          ],
          "failures_total": 3,
          "failures": [                      # the first MAX_FAILURES_PER_CELL of them
            {"check": "forward", "id": "softmax(float64, (4, 5), dim=0)",
             "test": "test_forward[softmax(float64, (4, 5), dim=0)]",
             "message": "output: got ..., but should be ...\\ncall: ...\\nrerun: ...",
             "call": "F.softmax(...)" | null,   # the message's "call:" line, without the prefix
             "rerun": "pytest ..."}             # the message's "rerun:" line without the prefix, else
                                                # pytest "<node id>" --target <target>
          ]
        }
      ],
      "failures": ["test_forward[softmax(float64, (4, 5), dim=0)]", ...]   # every failed test
    }

Counts always hold all five outcomes, zeros included. ``xfailed``: a known divergence
(known_divergences/*.toml) that showed; a strict one that passes (XPASS(strict)) is counted
as failed; ``xpassed``: a non-strict one (intermittent, e.g. uninitialized memory) that passed.

The worst errors are those the tests record with ``record_property``
(``max_ulp``, ``max_rel``); a check that fails without a finite error (an exception, a NaN
where a number was expected) counts as failed and leaves the worst error unchanged.
"""

import html
import json
import math
import os
import platform
import time
from collections import defaultdict
from datetime import datetime, timezone

import pytest

SCHEMA = 2
CHECKS = ("forward", "backward", "error")
OUTCOMES = ("passed", "failed", "skipped", "xfailed", "xpassed")
MAX_FAILURES_PER_CELL = 20
ERROR_DTYPE = "-"
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
    check = getattr(item, "originalname", "").removeprefix("test_")
    if check not in CHECKS:
        return None
    if "case" in params:
        case = params["case"]
        return {"function": case.function, "dtype": case.dtype, "device": case.device, "check": check,
                "family": _family(case), "id": case.id}
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


def _counts():
    return dict.fromkeys(OUTCOMES, 0)


def _worse(current, value):
    if value is None or not isinstance(value, (int, float)) or not math.isfinite(value):
        return current
    return value if current is None else max(current, value)


class _Tally:
    __slots__ = ("checks", "families", "worst_ulp", "worst_rel", "failures", "failures_total")

    def __init__(self):
        self.checks = {c: _counts() for c in CHECKS}
        self.families = {}  # family -> [counts, worst_ulp, worst_rel]
        self.worst_ulp = None
        self.worst_rel = None
        self.failures = []
        self.failures_total = 0


def _line(message, prefix):
    for line in message.splitlines():
        stripped = line.strip()
        if stripped.startswith(prefix):
            return stripped[len(prefix):].strip()
    return None


class Summary:
    """A pytest plugin (controller side) that tallies outcomes per (function, dtype, device) and check."""

    def __init__(self, target=None):
        self.target = target  # for the rerun command of failures whose message has none
        self.cells = defaultdict(_Tally)
        self.failures = []
        self.ids = set()
        self.checks = 0

    @staticmethod
    def outcome(report):
        if hasattr(report, "wasxfail"):
            # Non-strict XPASS; a strict XPASS reports as failed, without wasxfail.
            return "xfailed" if report.skipped else "xpassed"
        return report.outcome

    def pytest_runtest_logreport(self, report):
        info = getattr(report, REPORT_ATTRIBUTE, None)
        if info is None:
            return
        # One tally per test: the call phase, or setup when it skipped or failed, or a failing teardown.
        if report.when == "call" or (report.when == "setup" and (report.skipped or report.failed)):
            pass
        elif not (report.when == "teardown" and report.failed):
            return
        outcome = self.outcome(report)
        if outcome not in OUTCOMES:
            return
        tally = self.cells[(info["function"], info["dtype"], info["device"])]
        tally.checks[info["check"]][outcome] += 1
        family = tally.families.get(info["family"])
        if family is None:
            family = tally.families[info["family"]] = [_counts(), None, None]
        family[0][outcome] += 1
        self.ids.add(info["id"])
        self.checks += 1
        for name, value in report.user_properties:
            if name == "max_ulp":
                tally.worst_ulp = _worse(tally.worst_ulp, value)
                family[1] = _worse(family[1], value)
            elif name == "max_rel":
                tally.worst_rel = _worse(tally.worst_rel, value)
                family[2] = _worse(family[2], value)
        if outcome == "failed":
            test = report.nodeid.split("::", 1)[-1]
            self.failures.append(test)
            tally.failures_total += 1
            if len(tally.failures) < MAX_FAILURES_PER_CELL:
                message = report.longreprtext
                rerun = _line(message, "rerun:")
                if rerun is None:
                    from .harness import rerun_command

                    module = report.nodeid.split("::", 1)[0].rsplit("/", 1)[-1].removesuffix(".py")
                    rerun = rerun_command(f"{module}::{test}", self.target)
                tally.failures.append({"check": info["check"], "id": info["id"], "test": test, "message": message,
                                       "call": _line(message, "call:"), "rerun": rerun})


# --- the data model ------------------------------------------------------------------------


def _sum(counts_list):
    total = _counts()
    for counts in counts_list:
        for k in OUTCOMES:
            total[k] += counts[k]
    return total


def cell_status(counts):
    for status in ("failed", "passed", "xpassed", "xfailed", "skipped"):
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


def environment(target, device, dtypes, selection=None, workers=None, functions=None):
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
            "workers": workers, "seed_policy": SEED_POLICY}


def build(summary, env, duration_s, started=None):
    """The report as a plain dict (the JSON schema above) from a :class:`Summary`."""
    cells = []
    for (function, dtype, device), tally in sorted(summary.cells.items()):
        counts = _sum(tally.checks.values())
        families = [{"family": name, "counts": fam[0], "worst_ulp": fam[1], "worst_rel": fam[2]}
                    for name, fam in sorted(tally.families.items())]
        cells.append({"function": function, "dtype": dtype, "device": device, "status": cell_status(counts),
                      "counts": counts, "checks": tally.checks, "worst_ulp": tally.worst_ulp or 0.0,
                      "worst_rel": tally.worst_rel, "families": families,
                      "failures_total": tally.failures_total, "failures": tally.failures})
    started = started if started is not None else time.time() - duration_s
    env = {**env, "cases": len(summary.ids), "checks": summary.checks, "duration_s": round(duration_s, 3),
           "started": datetime.fromtimestamp(started, timezone.utc).isoformat(timespec="seconds")}
    return {"schema": SCHEMA, "environment": env, "totals": _sum(c["counts"] for c in cells), "cells": cells,
            "failures": list(summary.failures)}


# --- renderings ----------------------------------------------------------------------------


def _fmt_err(value):
    if value is None:
        return "-"
    return f"{value:.3g}"


def counts_text(counts, short=False):
    names = {"passed": "✓", "failed": "✗", "xfailed": "xfail", "xpassed": "xpass", "skipped": "skip"} if short else None
    parts = []
    for k in ("passed", "failed", "xfailed", "xpassed", "skipped"):
        if counts.get(k):
            parts.append(f"{counts[k]} {names[k]}" if short else f"{counts[k]} {k}")
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


MARKS = {"failed": "❌", "passed": "✅", "xpassed": "✅", "xfailed": "⚠️", "skipped": "⏭️"}


def to_markdown(report):
    """GitHub-flavoured Markdown: totals, environment, the matrix and the failures."""
    env, totals = report["environment"], report["totals"]
    functions, columns = _axes(report)
    index = _index(report)
    verdict = "❌ failures" if totals["failed"] else "✅ all checks pass"
    out = [f"## Conformance report: `{env.get('target')}`", "",
           f"**{verdict}**: {counts_text(totals)} ({env.get('checks')} checks of {env.get('cases')} cases "
           f"in {env.get('duration_s', 0):.1f} s)", "",
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
    out += ["", "✓ passed, ✗ failed, xfail: known torch divergence, xpass: an intermittent known divergence "
                "that did not show, skip: skipped; "
                "ulp: worst error in units in the last place of the dtype, rel: worst relative error.", ""]
    failing = [c for c in report["cells"] if c["failures_total"]]
    if failing:
        out += [f"### Failures ({totals['failed']})", ""]
        for cell in failing:
            shown = len(cell["failures"])
            more = f", first {shown} shown" if shown < cell["failures_total"] else ""
            out += [f"<details><summary><code>{html.escape(cell['function'])}</code> "
                    f"{_column_label(cell['dtype'])} {cell['device']}: {cell['failures_total']} failed{more}"
                    "</summary>", ""]
            for failure in cell["failures"]:
                out += [f"**{failure['check']}** `{failure['id']}`", "", "```", failure_text(failure),
                        "```", ""]
            out += ["</details>", ""]
    return "\n".join(out)


_CSS = """
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px;color:#1f2328;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px}
.verdict{font-size:16px;margin:8px 0 16px}.verdict b.bad{color:#b42318}.verdict b.good{color:#1a7f37}
table{border-collapse:collapse}
table.env td{padding:2px 12px 2px 0;vertical-align:top}table.env td:first-child{color:#59636e;white-space:nowrap}
table.matrix th,table.matrix td{border:1px solid #d1d9e0;padding:4px 8px;vertical-align:top}
table.matrix thead th{background:#f6f8fa;position:sticky;top:0}
table.matrix th.fn{text-align:left;font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-weight:600;
white-space:nowrap}
td.cell{min-width:120px}
td.failed{background:#ffebe9}td.passed,td.xpassed{background:#dafbe1}td.xfailed{background:#fff8c5}
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
    for k, label in (("passed", "passed"), ("failed", "failed"), ("xfailed", "xfailed"), ("xpassed", "xpassed"),
                     ("skipped", "skipped")):
        if counts.get(k):
            cls = ' class="f"' if k == "failed" else ""
            parts.append(f'<span{cls}>{counts[k]} {label}</span>')
    return ", ".join(parts) or "-"


def _html_cell(cell):
    attrs = (f'class="cell {cell["status"]}" data-function="{_e(cell["function"])}" '
             f'data-dtype="{_e(cell["dtype"])}" data-device="{_e(cell["device"])}" '
             + " ".join(f'data-{k}="{cell["counts"][k]}"' for k in OUTCOMES))
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


def to_html(report):
    """A self-contained page: inline CSS, no script, no external resource."""
    env, totals = report["environment"], report["totals"]
    functions, columns = _axes(report)
    index = _index(report)
    devices = []
    for device, _ in columns:
        if device not in devices:
            devices.append(device)
    per_device = len(columns) // max(len(devices), 1)
    good = not totals["failed"]
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f"<title>Conformance report: {_e(env.get('target'))}</title>", f"<style>{_CSS}</style></head><body>",
           f"<h1>Conformance report: <code>{_e(env.get('target'))}</code></h1>",
           f'<p class="verdict"><b class="{"good" if good else "bad"}">'
           f'{"All checks pass" if good else str(totals["failed"]) + " checks fail"}</b>: {_counts_html(totals)} '
           f'({_e(env.get("checks"))} checks of {_e(env.get("cases"))} cases in {env.get("duration_s", 0):.1f} s)</p>',
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
            "column: its invalid-input checks), passed / failed / xfailed (known torch divergence) / xpassed "
            "(an intermittent known divergence that did not show) / "
            "skipped, and the worst error seen, in units in the last place of the dtype and relative. "
            "Option family: the case's non-normal value class, else its first non-default option.</p>"]
    out += ["<h2>Environment</h2>", '<table class="env" id="environment">']
    out += [f"<tr><td>{_e(k)}</td><td>{_e(v)}</td></tr>" for k, v in _env_rows(env)]
    out.append("</table>")
    failing = [c for c in report["cells"] if c["failures_total"]]
    if failing:
        out.append(f"<h2>Failures ({totals['failed']})</h2>")
        for cell in failing:
            shown = len(cell["failures"])
            more = f", the first {shown} shown" if shown < cell["failures_total"] else ""
            out.append(f'<h3 id="{_e(cell_anchor(cell))}"><code>{_e(cell["function"])}</code> '
                       f'{_e(_column_label(cell["dtype"]))} on {_e(cell["device"])}: '
                       f'{cell["failures_total"]} failed{more}</h3>')
            for failure in cell["failures"]:
                out.append(f'<div class="failure"><div><b>{_e(failure["check"])}</b> <code>{_e(failure["id"])}'
                           f'</code></div><pre>{_e(failure_text(failure))}</pre></div>')
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def write(report, directory, json_path=None):
    """Write ``conformance.{json,md,html}`` under ``directory``; returns the paths written."""
    os.makedirs(directory, exist_ok=True)
    paths = {"json": json_path or os.path.join(directory, "conformance.json"),
             "md": os.path.join(directory, "conformance.md"), "html": os.path.join(directory, "conformance.html")}
    renderers = {"json": to_json, "md": to_markdown, "html": to_html}
    for kind, path in paths.items():
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(renderers[kind](report))
    return paths
