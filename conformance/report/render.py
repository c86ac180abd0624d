"""The report written out: a console table and verdict, JSON, Markdown (for pull requests and
issues) and one self-contained HTML page (inline CSS, no script, no network: a matrix of
function x dtype per device, and every failure's reproducer)."""

import html
import json
import os
import tempfile

from .. import publish
from .model import ERROR_DTYPE, FAILURES, MAX_FAILURES_SHOWN, STATUSES, TRANSFORM_CHECKS, plural


def render_verdict(report, limit=10):
    """The console lines of the verdict: its text, then the first ``limit`` failures with their status."""
    result = report["verdict"]
    lines = [result["text"]]
    failures = [f for c in report["cells"] for f in c["failures"]]
    failures.sort(key=lambda f: f["test"])
    if failures:
        lines.append(f"the first {min(limit, len(failures))} of {len(failures)} failures (all in the report):"
                     if len(failures) > limit else f"{plural(len(failures), 'failure')}:")
        lines += [f"  {f['status']}: {f['test']}" for f in failures[:limit]]
    return "\n".join(lines)


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
    # The transform checks get a column where some cell has one (a report of another --check has none).
    transforms = [t for t in TRANSFORM_CHECKS
                  if any(any(c["checks"].get(t, {}).values()) for c in report["cells"])]
    header = ("function", "dtype", "device", "forward", "backward", "errors", *transforms, "worst ulp", "worst rel")
    table = [header]
    for c in report["cells"]:
        table.append((c["function"], c["dtype"], c["device"], counts_text(c["checks"]["forward"]),
                      counts_text(c["checks"]["backward"]), counts_text(c["checks"]["error"]),
                      *(counts_text(c["checks"].get(t, {})) for t in transforms),
                      _fmt_err(c["worst_ulp"]), _fmt_err(c["worst_rel"])))
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _axes(report):
    """(functions, columns) of the matrix; a column is (device, dtype), error cases last per device."""
    from ..dtypes import FLOAT_DTYPES

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
            ("checks (--check)", ", ".join(env.get("check_kinds") or []) or "all"),
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
VERDICT_MARKS = {"passed": "✅", "failed": "❌", "interrupted": "⏹️", "nothing checked": "⚠️", "incomplete": "🧩"}
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


def _by_kind(report):
    """A table of the counts of each kind of check, over every cell (where more than one kind ran)."""
    totals = {}
    for cell in report["cells"]:
        for kind, counts in cell["checks"].items():
            if any(counts.values()):
                mine = totals.setdefault(kind, dict.fromkeys(counts, 0))
                for status, n in counts.items():
                    mine[status] = mine.get(status, 0) + n
    if len(totals) < 2:
        return []
    return (["| check | counts |", "|---|---|"]
            + [f"| {kind} | {counts_text(counts)} |" for kind, counts in totals.items()] + [""])


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
    out += _by_kind(report)
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
