"""Changes between two runs: ``python -m conformance diff OLD.json NEW.json`` and ``--baseline``.

A framework's maintainers live with known failures, so their CI compares with a baseline: the JSON
report of an earlier run (``reports/conformance.json``, kept in their repository). Every check's
status is in the report's ``results``; a check *regresses* when it fails now (failed, timeout,
crashed or error) and did not fail in the baseline (it passed, was skipped or a known divergence,
or did not exist); it is *fixed* when it failed in the baseline and passes now. With
``--baseline FILE`` the run's verdict is failed only on a regression: unchanged failures are
expected, and fixed checks are reported so the baseline can be renewed. An upgrade of the
framework, of torch or of this suite shows as the same diff.
"""

import sys

from . import options
from .report import FAILURES, STATUSES


def statuses(report):
    """``{test id: status}`` of every check in a report."""
    results = report.get("results")
    if results is None:
        raise ValueError("the report has no per-check results (written by a suite older than schema 3)")
    return {test: status for status in STATUSES for test in results.get(status, ())}


def diff(old, new):
    """What changed from ``old`` to ``new`` (reports): ``{"regressed", "fixed", "changed", "added",
    "removed"}``, each a sorted list of ``(test, old status, new status)``."""
    before, after = statuses(old), statuses(new)
    out = {"regressed": [], "fixed": [], "changed": [], "added": [], "removed": []}
    for test in sorted(before.keys() | after.keys()):
        was, now = before.get(test), after.get(test)
        if was == now:
            continue
        if now in FAILURES and was not in FAILURES:
            kind = "regressed"
        elif was in FAILURES and now == "passed":
            kind = "fixed"
        elif was is None:
            kind = "added"
        elif now is None:
            kind = "removed"
        else:
            kind = "changed"
        out[kind].append((test, was, now))
    return out


def summary(changes):
    return ", ".join(f"{len(v)} {k}" for k, v in changes.items() if v) or "no change"


def apply(report, baseline, path):
    """Judge ``report`` against ``baseline``: its verdict fails only on regressions."""
    changes = diff(baseline, report)
    report["baseline"] = {"file": path, "summary": summary(changes),
                          **{k: [list(change) for change in v] for k, v in changes.items()}}
    verdict = report["verdict"]
    if verdict["status"] == "failed" and not changes["regressed"]:
        expected = sum(report["totals"][s] for s in FAILURES)
        verdict.update(status="passed", exit_code=0,
                       text=f"passed against the baseline {path}: {expected} failures as expected; {summary(changes)}")
    elif verdict["status"] == "failed":
        regressed = len(changes["regressed"])
        verdict["text"] = f"failed against the baseline {path}: {regressed} regressed; {verdict['text']}"
    return report


def render(changes, limit=50):
    lines = [summary(changes)]
    for kind, entries in changes.items():
        for test, was, now in entries[:limit]:
            lines.append(f"  {kind}: {test}: {was or 'absent'} -> {now or 'absent'}")
        if len(entries) > limit:
            lines.append(f"  ... and {len(entries) - limit} more {kind}")
    return "\n".join(lines)


def main(argv=None):
    parser = options.Parser(prog="python -m conformance diff",
                                     description="Which checks changed status between two reports.")
    parser.add_argument("old", help="the earlier conformance.json")
    parser.add_argument("new", help="the later conformance.json")
    parser.add_argument("--limit", type=options.argument(options.number(int, minimum=0)), default=50,
                        help="changes shown per kind (default 50)")
    args = parser.parse_args(argv)
    reports = []
    for path in (args.old, args.new):
        try:
            reports.append(options.json_file(path))
            if not isinstance(reports[-1], dict):
                raise ValueError("not a conformance report (a JSON object)")
            statuses(reports[-1])
        except ValueError as exc:
            parser.error(f"{path}: {exc}")
    changes = diff(*reports)
    print(render(changes, args.limit))
    return 1 if changes["regressed"] else 0


if __name__ == "__main__":
    sys.exit(main())
