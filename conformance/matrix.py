"""The compatibility matrix: ``python -m conformance targets`` and ``python -m conformance matrix``.

``targets`` lists the shipped targets (torch's own backends and the framework bindings) and says
whether each can run here. ``matrix`` runs every one that can, each in its own process with its own
time budget (a target that overruns it is stopped and its column says so), and writes
``docs/compat/matrix.md`` and ``matrix.json``: rows are functions, columns targets, cells the
passed / failed (of every kind) / skipped counts; then, per target, its distinct findings: failures
grouped by function and by the first line of their message with the numbers taken out, each with
the number of failing checks it explains and the call of one of them, which reruns alone.
"""

import argparse
import importlib.metadata
import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

from .report import FAILURES


@dataclass(frozen=True)
class Target:
    name: str
    spec: str  # what --target takes
    needs: tuple  # modules that must import; the distributions whose versions the matrix records
    what: str


TARGETS = (
    Target("torch", "torch.nn.functional", ("torch",), "torch's eager kernels on the CPU"),
    Target("torch.compile", "conformance.torch_targets.compiled", ("torch",),
           "torch.compile (inductor, dynamic=False) of each function"),
    Target("torch._refs", "conformance.torch_targets.refs", ("torch",),
           "torch._refs.nn.functional, the decompositions"),
    Target("optax", "conformance.bindings.optax", ("optax", "jax"), "optax.losses, through jax"),
    Target("keras", "conformance.bindings.keras", ("keras", "jax"), "Keras 3 losses and ops on its JAX backend"),
    Target("tinygrad", "conformance.bindings.tinygrad", ("tinygrad",), "tinygrad's Tensor losses"),
    Target("mlx", "conformance.bindings.mlx", ("mlx",), "mlx.nn.losses"),
)


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
    argparse.ArgumentParser(prog="python -m conformance targets", description="The shipped targets.").parse_args(argv)
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


def _run(target, args, budget, directory):
    path = os.path.join(directory, f"{target.name}.json")
    command = [sys.executable, "-m", "conformance", "--target", target.spec, "--report-dir", directory,
               "--json", path, *args]
    started = time.monotonic()
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=budget)
        note = None if result.returncode in (0, 1, 5) else f"exit {result.returncode}: {result.stderr[-300:]}"
    except subprocess.TimeoutExpired:
        note = f"stopped at its budget of {budget:.0f} s"
    elapsed = time.monotonic() - started
    report = None
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            report = json.load(f)
    return report, note, elapsed


def _cell(report, function):
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    for cell in report["cells"]:
        if cell["function"] == function:
            counts["passed"] += cell["counts"]["passed"] + cell["counts"]["xpassed"]
            counts["failed"] += sum(cell["counts"][s] for s in FAILURES)
            counts["skipped"] += cell["counts"]["skipped"] + cell["counts"]["xfailed"]
    return counts


def build(results, args):
    from .registry import REGISTRY

    columns = []
    for target, report, note, elapsed in results:
        column = {"target": target.name, "spec": target.spec, "what": target.what, "versions": versions(target),
                  "note": note, "seconds": round(elapsed, 1)}
        if report is not None:
            checks = report["environment"]["checks"]
            column.update(verdict=report["verdict"]["text"], totals=report["totals"], checks=checks,
                          checks_per_second=round(checks / elapsed, 1) if elapsed else None,
                          cells={f: _cell(report, f) for f in REGISTRY}, findings=findings(report))
        columns.append(column)
    return {"arguments": args, "torch": versions(TARGETS[0])["torch"], "columns": columns}


def to_markdown(matrix):
    from .registry import REGISTRY

    columns = matrix["columns"]
    out = ["# Compatibility matrix", "",
           f"Generated by `python -m conformance matrix {' '.join(matrix['arguments'])}` (torch {matrix['torch']}). "
           "Each cell: passed / failed (of any kind: failed, timed out, crashed, error) / skipped (with "
           "known divergences); `-` where the target provides nothing for the function.", "",
           "| function | " + " | ".join(f"`{c['target']}`" for c in columns) + " |",
           "|---|" + "---|" * len(columns)]
    for function in REGISTRY:
        row = []
        for column in columns:
            counts = column.get("cells", {}).get(function)
            if not counts or not (counts["passed"] or counts["failed"]):
                row.append("-")
            else:
                mark = "❌" if counts["failed"] else "✅"
                row.append(f"{mark} {counts['passed']} / {counts['failed']} / {counts['skipped']}")
        out.append(f"| `{function}` | " + " | ".join(row) + " |")
    out += ["", "| target | versions | time | checks/s | verdict |", "|---|---|---|---|---|"]
    for column in columns:
        versions_text = ", ".join(f"{k} {v}" for k, v in column["versions"].items())
        out.append(f"| `{column['target']}` (`{column['spec']}`) | {versions_text} | {column['seconds']} s | "
                   f"{column.get('checks_per_second', '-')} | {column.get('verdict') or column.get('note')} |")
    for column in columns:
        if not column.get("findings"):
            continue
        out += ["", f"## `{column['target']}`: distinct findings", "",
                "| function | status | what (numbers as #) | checks | example |", "|---|---|---|---|---|"]
        for finding in column["findings"]:
            what = finding["what"].replace("|", "\\|")
            out.append(f"| `{finding['function']}` | {finding['status']} | {what} | {finding['count']} | "
                       f"`{finding['example']}` |")
    return "\n".join(out) + "\n"


def matrix_main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m conformance matrix", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=os.path.join("docs", "compat"), help="where to write matrix.md and .json")
    parser.add_argument("--budget", type=float, default=900, help="seconds per target (default 900)")
    parser.add_argument("--only", help="comma-separated target names (default: every one that can run)")
    args, extra = parser.parse_known_args(argv)
    chosen = [t for t in TARGETS if not args.only or t.name in args.only.split(",")]
    results = []
    with tempfile.TemporaryDirectory() as directory:
        for target in chosen:
            why = available(target)
            if why:
                print(f"{target.name}: skipped ({why})")
                continue
            print(f"{target.name}: running (budget {args.budget:.0f} s) ...", flush=True)
            report, note, elapsed = _run(target, extra, args.budget, directory)
            print(f"{target.name}: {report['verdict']['text'] if report else note} in {elapsed:.0f} s", flush=True)
            results.append((target, report, note, elapsed))
    matrix = build(results, extra)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "matrix.json"), "w", encoding="utf-8") as f:
        json.dump(matrix, f, indent=1)
        f.write("\n")
    with open(os.path.join(args.out, "matrix.md"), "w", encoding="utf-8") as f:
        f.write(to_markdown(matrix))
    print(f"written: {os.path.join(args.out, 'matrix.md')}, matrix.json")
    return 0
