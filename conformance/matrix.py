"""The compatibility matrix: ``python -m conformance targets`` and ``python -m conformance matrix``.

``targets`` lists the shipped targets (torch's own backends and the framework bindings) and says
whether each can run here. ``matrix`` runs every one that can, each in its own process with its own
time budget (a target that overruns it is stopped and its column says so), and writes
``docs/compat/matrix.md`` and ``matrix.json``: rows are functions, columns targets, cells the
passed / failed (of every kind) / skipped counts; then, per target, its distinct findings: failures
grouped by function and by the first line of their message with the numbers taken out, each with
the number of failing checks it explains and the call of one of them, which reruns alone.
"""

import importlib.metadata
import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

from . import merge as merging
from . import options, publish
from .bindings import bindings
from .dtypes import FLOAT_DTYPES
from .report import FAILURES


@dataclass(frozen=True)
class Target:
    name: str
    spec: str  # what --target takes
    needs: tuple  # modules that must import; the distributions whose versions the matrix records
    what: str
    grid: tuple = ()  # the matrix's default selection for this target (``--full`` drops it)


# The float32 grid of every function: the dtype every framework has on the CPU. torch.compile compiles a
# graph per call signature, so it gets the sub-grid of docs/compat/compile.md (about 15 minutes here),
# without the size-regime cases (conformance/sizes.py): each of their shapes is a compile of its own.
FLOAT32 = ("--dtype", "float32")
COMPILE_SUBGRID = FLOAT32 + ("--function", "mse_loss,cross_entropy,multilabel_margin_loss",
                             "-k", "not label_smoothing and not weight and not size_regime")


TARGETS = (
    Target("torch", "torch.nn.functional", ("torch",), "torch's eager kernels on the CPU", FLOAT32),
    Target("torch.compile", "conformance.torch_targets.compiled", ("torch",),
           "torch.compile (inductor, dynamic=False) of each function", COMPILE_SUBGRID),
    Target("torch._refs", "conformance.torch_targets.refs", ("torch",),
           "torch._refs.nn.functional, the decompositions", FLOAT32),
) + tuple(Target(b.name, b.module, b.requires, b.summary, FLOAT32) for b in bindings())


def available(target):
    """None when ``target`` can run here, else why not."""
    missing = [m for m in target.needs if importlib.util.find_spec(m) is None]
    return f"not installed: {', '.join(missing)}" if missing else None


def versions(target):
    found = {}
    for module in target.needs:
        try:
            found[module] = importlib.metadata.version(module)
        except importlib.metadata.PackageNotFoundError:
            found[module] = None
    return found


def targets_main(argv=None):
    options.Parser(prog="python -m conformance targets", description="The shipped targets.").parse_args(argv)
    for target in TARGETS:
        why = available(target)
        print(f"{target.name:14} {'ready' if why is None else why:28} --target {target.spec}\n{'':14} {target.what}")
    return 0


def _shape(message):
    first = message.splitlines()[0] if message else ""
    return re.sub(r"-?\d+(\.\d+)?(e[-+]?\d+)?", "#", first)[:160]


def findings(report, limit=12):
    """The distinct failures of one report, largest first."""
    groups = {}
    for cell in report["cells"]:
        for failure in cell["failures"]:
            key = (cell["function"], failure["status"], _shape(failure["message"]))
            group = groups.setdefault(key, {"function": key[0], "status": key[1], "what": key[2], "count": 0,
                                            "example": failure["id"], "call": failure.get("call"),
                                            "rerun": failure.get("rerun")})
            group["count"] += 1
    return sorted(groups.values(), key=lambda g: (-g["count"], g["function"], g["what"]))[:limit]


CALL_SHOWN = 400  # characters of a finding's call shown in matrix.md (matrix.json has every one)
INTERRUPT_GRACE = 60  # seconds a run stopped at its budget has to write its partial report


def run_budgeted(command, budget, log, cwd=None, env=None):
    """Run ``command`` with its output in the file ``log``; at ``budget`` seconds interrupt it
    (SIGINT, as Ctrl-C, so a conformance run writes its partial report), and kill it if it has not
    ended INTERRUPT_GRACE seconds later. Returns ``(exit code, seconds, whether it was stopped)``."""
    started = time.monotonic()
    stopped = False
    with open(log, "w", encoding="utf-8") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, text=True, cwd=cwd, env=env)
        try:
            code = process.wait(timeout=budget)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGINT)
            stopped = True
            try:
                code = process.wait(timeout=INTERRUPT_GRACE)
            except subprocess.TimeoutExpired:
                process.kill()
                code = process.wait()
    return code, time.monotonic() - started, stopped


def _run(target, args, budget, directory):
    """Run ``target`` in its own process. At its budget it is interrupted: the run writes its
    partial report (verdict "interrupted") and the column shows what ran, saying it stopped."""
    path = os.path.join(directory, f"{target.name}.json")
    command = [sys.executable, "-m", "conformance", "--target", target.spec, "--report-dir", directory,
               "--json", path, *args]
    log = os.path.join(directory, f"{target.name}.log")
    code, elapsed, stopped = run_budgeted(command, budget, log)
    note = f"stopped at its budget of {budget:.0f} s: the counts are of the checks that ran" if stopped else None
    if note is None and code not in (0, 1, 5):
        with open(log, encoding="utf-8") as f:
            note = f"exit {code}: {f.read()[-300:]}"
    report = None
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            report = json.load(f)
    return report, note, elapsed


def _cell(report, function, dtype=None):
    """passed / failed (of any kind) / skipped counts of ``function`` (in ``dtype``, or all)."""
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    for cell in report["cells"]:
        if cell["function"] == function and dtype in (None, cell["dtype"]):
            counts["passed"] += cell["counts"]["passed"] + cell["counts"]["xpassed"]
            counts["failed"] += sum(cell["counts"][s] for s in FAILURES)
            counts["skipped"] += cell["counts"]["skipped"] + cell["counts"]["xfailed"]
    return counts


def build(results):
    from .registry import REGISTRY

    columns = []
    today = time.strftime("%Y-%m-%d", time.gmtime())
    for target, arguments, report, note, elapsed in results:
        column = {"target": target.name, "spec": target.spec, "what": target.what,
                  "versions": {"torch": versions(TARGETS[0])["torch"], **versions(target)}, "date": today,
                  "arguments": list(arguments), "note": note, "seconds": round(elapsed, 1)}
        if report is not None:
            column["versions"]["torch"] = report["environment"].get("torch", column["versions"]["torch"])
            column["date"] = (report["environment"].get("started") or today)[:10]
            checks = report["environment"]["checks"]
            if note and not note.startswith(report["verdict"]["status"]):
                note += f" ({report['verdict']['status']})"
                column["note"] = note
            ran = checks - report["totals"]["skipped"]
            counts = ", ".join(f"{n} {status}" for status, n in report["totals"].items() if n)
            column.update(verdict=report["verdict"]["text"], totals=report["totals"], checks=checks, ran=ran,
                          verdict_counts=f"{report['verdict']['status']}: {counts} of {checks} checks",
                          checks_per_second=round(checks / elapsed, 1) if elapsed else None,
                          run_per_second=round(ran / elapsed, 1) if elapsed else None,
                          cells={f: _cell(report, f) for f in REGISTRY},
                          dtypes={d: {f: _cell(report, f, d) for f in REGISTRY} for d in _dtypes(report)},
                          findings=findings(report))
            shards = report["environment"].get("shards")
            if shards:  # merged from shards: the wall time is the longest shard's, the machine time their sum
                column.update(shards=len(shards), of_shards=int(shards[0]["shard"].split("/")[1]),
                              shard_seconds=round(report["environment"]["cpu_s"], 1))
        columns.append(column)
    return {"columns": columns}


def _dtypes(report):
    """The dtypes a report has cells of, in the suite's order (error checks have none)."""
    present = {cell["dtype"] for cell in report["cells"]}
    return [d for d in FLOAT_DTYPES if d in present]


def _counts_text(counts):
    if not counts or not (counts["passed"] or counts["failed"]):
        return "-"
    return f"{'❌' if counts['failed'] else '✅'} {counts['passed']} / {counts['failed']} / {counts['skipped']}"


def _by_dtype(columns):
    """One table per dtype that any column ran: rows functions, a cell per target ("not run" where
    the target's selection left the dtype out)."""
    from .registry import REGISTRY

    ran = {d for c in columns for d in c.get("dtypes", {})}
    out = []
    for dtype in [d for d in FLOAT_DTYPES if d in ran]:
        out += ["", f"### {dtype}", "", "| function | " + " | ".join(f"`{c['target']}`" for c in columns) + " |",
                "|---|" + "---|" * len(columns)]
        for function in REGISTRY:
            row = [_counts_text(c["dtypes"][dtype].get(function)) if dtype in c.get("dtypes", {}) else "not run"
                   for c in columns]
            out.append(f"| `{function}` | " + " | ".join(row) + " |")
    return (["", "## By dtype", "", "The same counts per dtype, without the error checks (which have no dtype). "
             "A column run before the matrix kept dtypes shows \"not run\" in every table until it is run "
             "again."] + out) if out else []


def to_markdown(matrix):
    from .registry import REGISTRY

    columns = matrix["columns"]
    out = ["# Compatibility matrix", "",
           "Generated by `python -m conformance matrix`, each target in its own process, with the selection, "
           "versions and date of each column in the table below the matrix (`--only` reruns some columns and "
           "keeps the others). "
           "Each cell: passed / failed (of any kind: failed, timed out, crashed, error) / skipped (with "
           "known divergences); `-` where the target provides nothing for the function.", "",
           "| function | " + " | ".join(f"`{c['target']}`" for c in columns) + " |",
           "|---|" + "---|" * len(columns)]
    for function in REGISTRY:
        row = [_counts_text(column.get("cells", {}).get(function)) for column in columns]
        out.append(f"| `{function}` | " + " | ".join(row) + " |")
    out += ["", "| target | selection | versions | date | time | checks/s: run, all | verdict |",
            "|---|---|---|---|---|---|---|"]
    for column in columns:
        versions_text = ", ".join(f"{k} {v}" for k, v in column["versions"].items())
        selection = " ".join(column.get("arguments", [])) or "the full grid"
        verdict = column.get("note") or column.get("verdict_counts") or column.get("verdict")
        time_text = f"{column['seconds']} s"
        if column.get("shards"):
            time_text += f" ({column['shards']} of {column['of_shards']} shards, {column['shard_seconds']} s in all)"
        out.append(f"| `{column['target']}` (`{column['spec']}`) | `{selection}` | {versions_text} | "
                   f"{column.get('date', '-')} | {time_text} | {column.get('run_per_second', '-')}, "
                   f"{column.get('checks_per_second', '-')} | {verdict} |")
    jobs = sum(c.get("shard_seconds", c["seconds"]) for c in columns)
    out += ["", f"Job time of these columns: {jobs:,.0f} s ({jobs / 3600:.2f} h), the sum of the run times of every "
                "target and shard (what a CI job matrix bills); with a target's shards in parallel, its wall time "
                "is its time column."]
    out += _by_dtype(columns)
    for column in columns:
        if not column.get("findings"):
            continue
        out += ["", f"## `{column['target']}`: distinct findings", "",
                "| function | status | what (numbers as #) | checks | example, and its call |", "|---|---|---|---|---|"]
        for finding in column["findings"]:
            what = finding["what"].replace("|", "\\|")
            call = finding.get("call") or ""
            call = f"<br>`{call}`" if call and len(call) <= CALL_SHOWN else ""
            out.append(f"| `{finding['function']}` | {finding['status']} | {what} | {finding['count']} | "
                       f"`{finding['example']}`{call} |")
    return "\n".join(out) + "\n"


def matrix_main(argv=None):
    names = tuple(t.name for t in TARGETS)
    parser = options.Parser(prog="python -m conformance matrix", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=os.path.join("docs", "compat"),
                        type=options.argument(options.output_directory),
                        help="where to write matrix.md and .json (created if missing)")
    parser.add_argument("--budget", type=options.argument(options.number(float, above=0)), default=900,
                        help="seconds per target, more than 0 (default 900)")
    parser.add_argument("--only", type=options.argument(options.names_from(names)),
                        help=f"comma-separated target names, of {', '.join(names)} (default: every one that can run)")
    parser.add_argument("--full", action="store_true",
                        help="every target on the full grid (default: each target's selection, e.g. float32, and "
                             "torch.compile's sub-grid); hours on two cores")
    parser.add_argument("--from-reports", nargs="+", metavar="REPORT",
                        help="build the columns from these JSON reports of python -m conformance instead of running "
                             "the targets: the shards of one target (--shard K/N, run anywhere) are merged as "
                             "python -m conformance merge does, and a missing shard makes the column incomplete")
    parser.add_argument("--force", action="store_true",
                        help="replace the published matrix with this run's columns alone, even if it checked nothing")
    args, extra = parser.parse_known_args(argv)
    path = os.path.join(args.out, "matrix.json")
    try:
        published = None if args.force or not os.path.exists(path) else options.json_file(path)
    except ValueError as exc:
        return options.usage_error(f"{path}: {exc} (--force replaces it)", parser.prog)
    if args.from_reports:
        try:
            results = from_reports(args.from_reports)
        except merging.MergeError as exc:
            return options.usage_error(str(exc), parser.prog)
        return _publish(args, results, published, path)
    results = []
    with tempfile.TemporaryDirectory() as directory:
        for target in TARGETS:
            if args.only and target.name not in args.only:
                continue
            why = available(target)
            if why:
                print(f"{target.name}: skipped ({why})")
                continue
            arguments = (() if args.full else target.grid) + tuple(extra)
            print(f"{target.name}: running {' '.join(arguments)} (budget {args.budget:.0f} s) ...", flush=True)
            report, note, elapsed = _run(target, arguments, args.budget, directory)
            print(f"{target.name}: {report['verdict']['text'] if report else ''} {note or ''} in {elapsed:.0f} s",
                  flush=True)
            results.append((target, arguments, report, note, elapsed))
    return _publish(args, results, published, path)


def _publish(args, results, published, path):
    matrix = build(results)
    if not args.force and not _checked(matrix) and published is not None and _checked(published):
        print(f"nothing was checked: {path} and matrix.md are kept (--force replaces them)", file=sys.stderr)
        return 5
    if published is not None:
        matrix = merge(published, matrix)
    publish.write_text(path, json.dumps(matrix, indent=1) + "\n")
    publish.write_text(os.path.join(args.out, "matrix.md"), to_markdown(matrix))
    print(f"written: {os.path.join(args.out, 'matrix.md')}, matrix.json")
    return 0


def _arguments(environment):
    """The selection of a report's run, as the command-line arguments that make it."""
    arguments = []
    if environment.get("dtypes") and set(environment["dtypes"]) != set(FLOAT_DTYPES):
        arguments += ["--dtype", ",".join(environment["dtypes"])]
    if environment.get("functions"):
        arguments += ["--function", ",".join(environment["functions"])]
    if environment.get("selection"):
        arguments += ["-k", environment["selection"]]
    if environment.get("check_kinds") and set(environment["check_kinds"]) != set(options.CHECK_KINDS):
        arguments += ["--check", ",".join(environment["check_kinds"])]
    return tuple(arguments)


def from_reports(paths):
    """``build``'s results from reports on disk: one column per target, its shards merged."""
    groups = {}
    for path, report in merging.load(paths):
        groups.setdefault(report["environment"]["target"], []).append((path, report))
    results = []
    for spec, reports in groups.items():
        sharded = bool(reports[0][1]["environment"].get("shard"))
        if len(reports) > 1 and not sharded:
            raise merging.MergeError(f"{len(reports)} reports of {spec} that are not shards: give one")
        report = merging.merge(reports) if sharded else reports[0][1]
        target = next((t for t in TARGETS if t.spec == spec), None) or Target(spec, spec, (), spec)
        status = report["verdict"]["status"]
        note = report["verdict"]["text"] if status == "incomplete" else None
        results.append((target, _arguments(report["environment"]), report, note,
                        report["environment"]["duration_s"]))
    order = [t.spec for t in TARGETS]
    return sorted(results, key=lambda r: order.index(r[0].spec) if r[0].spec in order else len(order))


def _checked(matrix):
    return sum(column.get("ran", 0) for column in matrix.get("columns", ()))


def merge(published, new):
    """``new``'s columns, and the published columns of every target it did not run (each keeps its
    own date, versions and selection), in the order of :data:`TARGETS`."""
    columns = {c["target"]: c for c in published.get("columns", ())}
    columns.update((c["target"], c) for c in new["columns"])
    order = [t.name for t in TARGETS]
    ranked = sorted(columns.values(), key=lambda c: order.index(c["target"]) if c["target"] in order else len(order))
    return {**new, "columns": ranked}
