"""``python -m conformance merge REPORT... --out DIR``: one report, with its verdict, from the JSON
reports of the shards of one run (``--shard K/N``, ``conformance/shards.py``), as wpt.fyi merges
wptrunner's chunks.

It refuses to mix: reports of different targets, suite, torch or NumPy versions, or selections
(device, dtypes, functions, ``-k``, profile, kinds of check) are an error naming the field, and so is
a check that two different shards ran. A shard run again (after a lost CI job) replaces its earlier
report, the later by start time, and the merged report says so. A set that lacks a shard, or holds
an interrupted one, has the verdict "incomplete" (exit 3), naming those shards: never "passed".
Each shard's host, platform, Python and times are kept (``environment.shards``).
"""

import gzip
import json
import os

from . import options
from .report import model
from .report.model import summed, worse

# What every shard of one run shares; anything else (host, Python, times) may differ.
SAME = ("target", "suite", "torch", "numpy", "device", "dtypes", "functions", "selection", "profile",
        "check_kinds")
KEPT = ("shard", "python", "platform", "device_name", "workers", "started", "duration_s", "cases", "checks")


class MergeError(ValueError):
    """The reports cannot be merged; the message names the field, the shard or the check."""


def load(paths):
    """``[(path, report)]`` of JSON reports, each plain or gzip-compressed (a name ending in ``.gz``:
    a shard's report kept in a repository, as docs/compat/runs/ keeps them)."""
    reports = []
    for path in paths:
        try:
            opener = gzip.open if str(path).endswith(".gz") else open
            with opener(path, "rt", encoding="utf-8") as f:
                reports.append((path, json.load(f)))
        except (OSError, ValueError) as exc:
            raise MergeError(f"{path}: cannot read a JSON report ({exc})") from None
        if not isinstance(reports[-1][1], dict) or not {"environment", "results", "cells"} <= set(reports[-1][1]):
            raise MergeError(f"{path}: not a conformance report (no environment, results and cells)")
    return reports


def _shard(path, report):
    text = report.get("environment", {}).get("shard")
    if not text:
        raise MergeError(f"{path}: not a shard's report (its run had no --shard)")
    k, n = (int(x) for x in text.split("/"))
    return k, n


def merge(reports):
    """The merged report (a dict, the schema of docs/report.md) of ``[(path, report), ...]``."""
    if not reports:
        raise MergeError("no report to merge")
    first_path, first = reports[0]
    for path, report in reports:
        if report.get("schema") != first.get("schema"):
            raise MergeError(f"{path}: report schema {report.get('schema')}, but {first_path} has "
                             f"{first.get('schema')}")
        for field in SAME:
            mine, theirs = report["environment"].get(field), first["environment"].get(field)
            if mine != theirs:
                raise MergeError(f"{path}: {field} is {mine!r}, but {first_path} has {theirs!r}: the reports are "
                                 "of different runs")
    count = _shard(*reports[0])[1]
    latest, replaced = {}, []
    for path, report in reports:
        k, n = _shard(path, report)
        if n != count:
            raise MergeError(f"{path}: shard {k}/{n}, but {first_path} is one of {count} shards")
        if k in latest:
            older, newer = sorted([latest[k], (path, report)], key=lambda pr: pr[1]["environment"]["started"])
            replaced.append({"shard": f"{k}/{n}", "replaced": older[0], "by": newer[0]})
            latest[k] = newer
        else:
            latest[k] = (path, report)
    owner = {}
    for k, (_, report) in sorted(latest.items()):
        for tests in report["results"].values():
            for test in tests:
                if test in owner:
                    raise MergeError(f"{test} was run by shard {owner[test]} and shard {k}/{count}: the shards "
                                     "overlap (different selections, or a changed suite)")
                owner[test] = f"{k}/{count}"
    shards = [report for _, (_, report) in sorted(latest.items())]
    merged = _combined(shards, first["environment"])
    merged["environment"]["shards"] = [{field: r["environment"].get(field) for field in KEPT}
                                       | {"verdict": r["verdict"]["text"], "report": path}
                                       for _, (path, r) in sorted(latest.items())]
    merged["environment"]["replaced"] = replaced
    missing = [f"{k}/{count}" for k in range(1, count + 1) if k not in latest]
    interrupted = [r["environment"]["shard"] for r in shards if r.get("interrupted")]
    merged["verdict"] = model.verdict(merged)
    if missing or interrupted:
        why = "; ".join(part for part in (f"missing shard{'s' if len(missing) > 1 else ''} {', '.join(missing)}"
                                          if missing else "",
                                          f"interrupted {', '.join(interrupted)}" if interrupted else "") if part)
        merged["verdict"] = {"status": "incomplete", "exit_code": model.EXIT_CODES["incomplete"],
                             "text": f"incomplete: {why}; so far {merged['verdict']['text']}"}
    return merged


def _combined(shards, environment):
    cells = {}
    for report in shards:
        for cell in report["cells"]:
            key = (cell["function"], cell["dtype"], cell["device"])
            if key not in cells:
                cells[key] = json.loads(json.dumps(cell))
                continue
            into = cells[key]
            into["counts"] = summed([into["counts"], cell["counts"]])
            into["checks"] = {kind: summed([into["checks"].get(kind, model.zero_counts()), counts])
                              for kind, counts in {**into["checks"], **cell["checks"]}.items()}
            reasons = dict(into["skip_reasons"])
            for reason, n in cell["skip_reasons"].items():
                reasons[reason] = reasons.get(reason, 0) + n
            into["skip_reasons"] = dict(sorted(reasons.items()))
            into["worst_ulp"], into["worst_rel"] = (worse(into["worst_ulp"], cell["worst_ulp"]),
                                                    worse(into["worst_rel"], cell["worst_rel"]))
            families = {f["family"]: f for f in into["families"]}
            for family in cell["families"]:
                mine = families.get(family["family"])
                families[family["family"]] = family if mine is None else {
                    "family": family["family"], "counts": summed([mine["counts"], family["counts"]]),
                    "worst_ulp": worse(mine["worst_ulp"], family["worst_ulp"]),
                    "worst_rel": worse(mine["worst_rel"], family["worst_rel"])}
            into["families"] = [families[name] for name in sorted(families)]
            into["failures"] = sorted(into["failures"] + cell["failures"], key=lambda f: (f["test"], f["check"]))
            into["failures_total"] = len(into["failures"])
    merged_cells = [cells[key] for key in sorted(cells)]
    for cell in merged_cells:
        cell["status"] = model.cell_status(cell["counts"])
    env = {field: environment.get(field) for field in environment if field not in KEPT}
    env.update(shard=None, cases=sum(r["environment"]["cases"] for r in shards),
               checks=sum(r["environment"]["checks"] for r in shards),
               duration_s=max(r["environment"]["duration_s"] for r in shards),
               cpu_s=round(sum(r["environment"]["duration_s"] for r in shards), 3),
               started=min(r["environment"]["started"] for r in shards))
    skip_reasons = {}
    for cell in merged_cells:
        for reason, n in cell["skip_reasons"].items():
            skip_reasons[reason] = skip_reasons.get(reason, 0) + n
    results = {status: sorted(t for r in shards for t in r["results"].get(status, [])) for status in model.STATUSES}
    return {"schema": shards[0]["schema"], "environment": env, "verdict": None, "interrupted": False,
            "totals": summed(c["counts"] for c in merged_cells), "skip_reasons": dict(sorted(skip_reasons.items())),
            "pytest": summed((r["pytest"] for r in shards), model.PYTEST_COUNTS), "cells": merged_cells,
            "failures": sorted(f["test"] for c in merged_cells for f in c["failures"]), "results": results}


def _directory(value):
    """``--out``, checked without creating it (nothing is written before the reports are read)."""
    if os.path.exists(value) and not os.path.isdir(value):
        raise ValueError("a file, where a directory is expected")
    return value


def main(argv=None):
    from . import report as reporting

    parser = options.Parser(prog="python -m conformance merge",
                            description="One report, with its verdict, from the JSON reports of a run's shards.")
    parser.add_argument("reports", nargs="+", metavar="REPORT", help="the shards' conformance.json files")
    parser.add_argument("--out", required=True, type=options.argument(_directory),
                        help="where to write the merged conformance.json, .md and .html (created if missing)")
    args = parser.parse_args(argv)
    try:
        report = merge(load(args.reports))
        reporting.check_writable(args.out)  # only once the reports are known good: nothing is created before
    except (MergeError, OSError) as exc:
        return options.usage_error(exc, "python -m conformance merge")
    print(reporting.render_text(report))
    for replaced in report["environment"]["replaced"]:
        print(f"shard {replaced['shard']}: {replaced['by']} replaces {replaced['replaced']} (a rerun)")
    print(reporting.render_verdict(report))
    paths = reporting.write(report, args.out)
    print(f"merged report written to {', '.join(paths.values())}")
    return report["verdict"]["exit_code"]
