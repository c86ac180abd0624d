"""Why ``torch._refs.nn.functional`` fails where it fails: every failure of a conformance report
of ``--target torch._refs.nn.functional`` (or ``conformance.torch_targets.refs``) assigned to one
root cause, genuine (``_refs`` computes or raises otherwise than eager torch) or the suite's own
doing (the suite asks for something ``_refs`` does not take).

    python -m conformance.torch_targets.refs_failures reports/conformance.json

prints one row per cause with its count and the failures no cause explains (a new torch, a
new case: classify them). Each genuine cause has a ``reproducer``: a few lines that run alone
against the installed torch and end with ``diverges`` true while ``_refs`` still differs from
``torch.nn.functional`` (``tests/test_torch_targets.py`` runs them). docs/compat/refs.md is
this table, with the numbers of one run.

The causes are records, like the known divergences: ``refs_failures.toml`` beside this module
(its header describes the fields), read into :data:`CAUSES` in the file's order.
"""

import json
import os
import re
import sys
from collections import Counter
from dataclasses import dataclass

from ..options import CHECK_KINDS

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the same parser as a package
    import tomli as tomllib

_PRELUDE = "import torch, torch.nn.functional as F, torch._refs.nn.functional as R\n"


@dataclass(frozen=True)
class Cause:
    key: str
    kind: str  # "genuine" or "suite"
    functions: tuple
    checks: tuple  # of CHECKS: forward, backward, error, jvp, gradgrad, vmap
    pattern: str  # searched in "<case id>\n<failure message>"
    summary: str  # the root cause, one sentence
    fix: str = ""  # suite causes: how the suite stops causing it
    reproducer: str = ""  # genuine causes: source that sets ``diverges``

    def explains(self, failure):
        function = failure["id"].split("(", 1)[0]
        return (function in self.functions and failure["check"] in self.checks
                and re.search(self.pattern, failure["id"] + "\n" + failure["message"]) is not None)

    def run_reproducer(self):
        """Whether ``_refs`` still differs from eager torch on the reproducer."""
        scope = {}
        exec(compile(_PRELUDE + self.reproducer, f"<reproducer {self.key}>", "exec"), scope)  # noqa: S102
        return bool(scope["diverges"])


FILE = os.path.join(os.path.dirname(__file__), "refs_failures.toml")  # the causes, in order
FIELDS = {"key", "kind", "functions", "checks", "pattern", "summary", "fix", "reproducer"}
REQUIRED = ("key", "kind", "functions", "checks", "pattern", "summary")
KINDS = {"genuine": "reproducer", "suite": "fix"}  # each kind with the field it must have
CHECKS = CHECK_KINDS  # a cause explains failures of any kind of check, the transforms included


def _cause(data, source):
    unknown, missing = set(data) - FIELDS, [name for name in REQUIRED if name not in data]
    if unknown or missing:
        raise ValueError(f"{source}: a cause has the fields {', '.join(REQUIRED)} and one of fix, reproducer; "
                         f"unknown {sorted(unknown)}, missing {missing}: {data}")
    key, kind = data["key"], data["kind"]
    if kind not in KINDS or not data.get(KINDS[kind]):
        raise ValueError(f"{source}: cause {key!r}: kind is 'genuine', with a reproducer, or 'suite', with a fix; "
                         f"got {kind!r} with {sorted(set(data) & set(KINDS.values()))}")
    if not set(data["checks"]) <= set(CHECKS):
        raise ValueError(f"{source}: cause {key!r}: checks are among {CHECKS}, not {data['checks']}")
    try:
        re.compile(data["pattern"])
    except re.error as error:
        raise ValueError(f"{source}: cause {key!r}: the pattern {data['pattern']!r} does not compile: {error}") \
            from None
    return Cause(key, kind, tuple(data["functions"]), tuple(data["checks"]), data["pattern"], data["summary"],
                 data.get("fix", ""), data.get("reproducer", ""))


def load(path=FILE):
    """The causes recorded in ``path`` (``refs_failures.toml``), in the file's order: the first
    that explains a failure is its cause."""
    source = os.path.basename(path)
    with open(path, "rb") as f:
        causes = tuple(_cause(data, source) for data in tomllib.load(f).get("cause", []))
    repeated = sorted(key for key, n in Counter(c.key for c in causes).items() if n > 1)
    if repeated:
        raise ValueError(f"{source}: a cause's key names it once: {repeated} repeated")
    return causes


CAUSES = load()


def failures(report):
    """Every failure (a dict with id, check, message) of a conformance report (its JSON)."""
    return [f for cell in report["cells"] for f in cell["failures"]]


def classify(items):
    """``({cause key: [failure]}, [unexplained failure])``: each failure under the first cause that explains it."""
    by_cause, unexplained = {c.key: [] for c in CAUSES}, []
    for failure in items:
        cause = next((c for c in CAUSES if c.explains(failure)), None)
        (by_cause[cause.key] if cause else unexplained).append(failure)
    return by_cause, unexplained


def inherited(items):
    """The failures that torch's own known divergences (known_divergences/) cover: xfails for a target
    that declares INHERITS_TORCH_DIVERGENCES."""
    from ..divergences import load

    records = load()
    return [f for f in items if any(r.applies(f["check"], f["id"]) for r in records)]


def table(report):
    """Markdown rows: cause, kind, functions, checks, failures (of which inherited), root cause or fix."""
    items = failures(report)
    by_cause, unexplained = classify(items)
    rows = ["| cause | kind | function | checks (failures) | failures | of which eager-known | root cause / fix |",
            "|---|---|---|---|---|---|---|"]
    for cause in CAUSES:
        found = by_cause[cause.key]
        checks = Counter(f["check"] for f in found)
        shown = ", ".join(f"{k} {checks[k]}" for k in CHECKS if checks[k])
        text = cause.summary + (f" **Fix:** {cause.fix}" if cause.fix else "")
        rows.append(f"| `{cause.key}` | {cause.kind} | {', '.join(cause.functions)} | {shown or '-'} | "
                    f"{len(found)} | {len(inherited(found))} | {text} |")
    return rows, by_cause, unexplained


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m conformance.torch_targets.refs_failures REPORT.json", file=sys.stderr)
        return 2
    with open(argv[0]) as f:
        report = json.load(f)
    rows, by_cause, unexplained = table(report)
    print("\n".join(rows))
    genuine = sum(len(by_cause[c.key]) for c in CAUSES if c.kind == "genuine")
    suite = sum(len(by_cause[c.key]) for c in CAUSES if c.kind == "suite")
    print(f"\n{len(failures(report))} failures: {genuine} genuine, {suite} the suite's doing, "
          f"{len(unexplained)} unexplained")
    for failure in unexplained:
        print(f"unexplained: {failure['test']}: {failure['message'].splitlines()[0]}")
    return 1 if unexplained else 0


if __name__ == "__main__":
    sys.exit(main())
