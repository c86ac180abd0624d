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
"""

import json
import re
import sys
from collections import Counter
from dataclasses import dataclass

_PRELUDE = "import torch, torch.nn.functional as F, torch._refs.nn.functional as R\n"


@dataclass(frozen=True)
class Cause:
    key: str
    kind: str  # "genuine" or "suite"
    functions: tuple
    checks: tuple  # forward, backward, error
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


_EMPTY = r"^nll_loss\(\w+, \(0, "

CAUSES = (
    Cause("inherited-xpass", "suite", ("nll_loss",), ("forward", "backward", "error"), r"\n\[XPASS\(strict\)\]",
          "an eager divergence inherited as a strict xfail (INHERITS_TORCH_DIVERGENCES) where _refs conforms: "
          "for an empty K-dimensional batch with reduction='none' and a uint8 target eager raises, _refs "
          "returns the documented empty result.",
          fix="the plugin applies inherited records as non-strict xfails for torch-derived targets (an XPASS is "
              "then shown, not failed): whether a derivative shares an eager defect is not known in advance."),
    Cause("weight", "suite", ("mse_loss", "l1_loss", "huber_loss"), ("forward", "backward", "error"),
          r"unexpected keyword argument 'weight'",
          "_refs' mse_loss, l1_loss and huber_loss take no weight (eager gained it in torch 2.x); the suite passes "
          "one in every weight=<positive> case and in the weight-shape error cases.",
          fix="conformance.torch_targets.refs declares ARGUMENTS = {f: Signature(drop={'weight': None})} for the "
              "three: those cases skip there with \"the port has no 'weight'\"."),
    Cause("implicit-dim", "genuine", ("softmax", "log_softmax"), ("forward", "backward"),
          r"implicit dim not supported",
          "_refs rejects dim=None (RuntimeError 'implicit dim not supported'), where eager picks the legacy "
          "implicit dim (0 for 0-D, 1-D and 3-D inputs, else 1) with a deprecation warning; deliberate, and not "
          "expressible as a dropped option (the option is there, one value of it is refused).",
          reproducer="x = torch.randn(2, 3)\ntry:\n    R.softmax(x, dim=None)\n    diverges = False\n"
                     "except RuntimeError:\n    diverges = bool(torch.isfinite(F.softmax(x, dim=None)).all())\n"),
    Cause("nll-empty", "genuine", ("nll_loss",), ("forward", "backward"), _EMPTY,
          "for an empty input nll_loss returns early with a tensor made from target, not from input: "
          "full_like(target, nan) for 'mean' raises on an integer target ('value cannot be converted to type "
          "int64_t without overflow'), empty_like(target) for 'sum' has target's shape and uninitialized values "
          "instead of a 0-D 0, and zeros_like(target) for 'none' is cut off from input's graph ('output does not "
          "require grad').",
          reproducer="x = torch.zeros(0, 3, requires_grad=True); t = torch.zeros(0, dtype=torch.long)\n"
                     "try:\n    R.nll_loss(x, t)\n    mean = False\nexcept RuntimeError:\n"
                     "    mean = bool(torch.isnan(F.nll_loss(x, t)))\n"
                     "total = R.nll_loss(x, t, reduction='sum').shape != F.nll_loss(x, t, reduction='sum').shape\n"
                     "none = not R.nll_loss(x, t, reduction='none').requires_grad\n"
                     "diverges = mean and total and none\n"),
    Cause("nll-uint8", "genuine", ("nll_loss",), ("forward", "backward"), r"target=<uint8>",
          "a uint8 target indexes input as a boolean mask, not as class indices (input[arange(N), target]), so "
          "nll_loss raises IndexError ('The shape of the mask ... does not match') or, for a (C,) input, "
          "RuntimeError (\"shape '[]' is invalid\"); eager accepts uint8 class indices for (C,) and (N, C) inputs "
          "(its K-dimensional rejection is a known eager divergence: those cases are inherited xfails).",
          reproducer="x = torch.randn(2, 3).log_softmax(1); t = torch.tensor([2, 0], dtype=torch.uint8)\n"
                     "try:\n    R.nll_loss(x, t)\n    diverges = False\nexcept (IndexError, RuntimeError):\n"
                     "    diverges = bool(torch.isfinite(F.nll_loss(x, t)))\n"),
    Cause("nll-ignore-gather", "genuine", ("nll_loss",), ("forward", "backward"), r"is out of bounds",
          "nll_loss gathers input[..., target] (and weight[target]) before masking the ignored entries, so an "
          "ignore_index outside [0, C) (the default -100) in target is an out-of-bounds index (IndexError) "
          "where eager skips ignored entries.",
          reproducer="x = torch.randn(2, 3).log_softmax(1); t = torch.tensor([1, -100])\n"
                     "try:\n    R.nll_loss(x, t)\n    diverges = False\nexcept IndexError:\n"
                     "    diverges = bool(torch.isclose(F.nll_loss(x, t), -x[0, 1]))\n"),
    Cause("nll-ignore-times-zero", "genuine", ("nll_loss",), ("forward",), r"values=nonfinite.*\noutput: got nan",
          "ignored entries are multiplied by a weight of 0 instead of being masked out, so an infinite (or NaN) "
          "input at an ignored entry makes the loss NaN (inf * 0) where eager leaves it out.",
          reproducer="x = torch.tensor([[-float('inf'), -1.0], [-0.5, -2.0]]); t = torch.tensor([0, 1])\n"
                     "diverges = bool(torch.isnan(R.nll_loss(x, t, ignore_index=0)) and "
                     "F.nll_loss(x, t, ignore_index=0) == 2.0)\n"),
    Cause("nll-all-ignored-grad", "genuine", ("nll_loss",), ("backward",),
          r"grad of input: got nan, but should be 0\.0",
          "with reduction='mean' and every target ignored the loss is 0/0 = NaN in both, but _refs differentiates "
          "sum(w l) / sum(w) literally: the ignored entries get 0 * (grad / 0) = NaN where eager's gradient is 0.",
          reproducer="x = torch.randn(2, 3).log_softmax(1).requires_grad_(); t = torch.tensor([1, 1])\n"
                     "gr = torch.autograd.grad(R.nll_loss(x, t, ignore_index=1), x)[0]\n"
                     "ge = torch.autograd.grad(F.nll_loss(x, t, ignore_index=1), x)[0]\n"
                     "diverges = bool(torch.isnan(gr).any() and (ge == 0).all())\n"),
    Cause("where-grad", "genuine", ("huber_loss", "smooth_l1_loss"), ("backward",), r"values=nonfinite.*\ngrad of",
          "the loss is torch.where(abs(d) < delta, 0.5 d^2, delta (abs(d) - 0.5 delta)) and autograd differentiates "
          "both branches: at an infinite difference the unused quadratic branch contributes 0 * inf = NaN, "
          "where eager's gradient is +-delta (huber) or +-1 (smooth_l1).",
          reproducer="x = torch.tensor([float('inf'), 0.5], requires_grad=True); y = torch.zeros(2)\n"
                     "gr = torch.autograd.grad(R.huber_loss(x, y, reduction='sum'), x)[0]\n"
                     "ge = torch.autograd.grad(F.huber_loss(x, y, reduction='sum'), x)[0]\n"
                     "gr1 = torch.autograd.grad(R.smooth_l1_loss(x, y, reduction='sum'), x)[0]\n"
                     "diverges = bool(torch.isnan(gr[0]) and torch.isnan(gr1[0]) and ge[0] == 1.0)\n"),
    Cause("nll-value-error-class", "genuine", ("nll_loss",), ("error",),
          r"raised RuntimeError: .*, but should raise ValueError",
          "_refs checks input dimensions and batch sizes with torch._check, which raises RuntimeError, where "
          "eager raises ValueError (a 0-D input, a target batch of another size).",
          reproducer="try:\n    R.nll_loss(torch.tensor(0.5), torch.tensor(0))\n    diverges = False\n"
                     "except ValueError:\n    diverges = False\nexcept RuntimeError:\n"
                     "    try:\n        F.nll_loss(torch.tensor(0.5), torch.tensor(0))\n        diverges = False\n"
                     "    except ValueError:\n        diverges = True\n"),
    Cause("nll-index-error-class", "genuine", ("nll_loss",), ("error",),
          r"raised IndexError: .*, but should raise RuntimeError",
          "_refs does not check target's dtype or shape or weight's size before indexing, so a bool or float "
          "target, a (1, C) weight or a target of another K-shape fail inside advanced indexing with IndexError, "
          "where eager's checks raise RuntimeError.",
          reproducer="x = torch.randn(2, 3); t = torch.tensor([0.0, 1.0])\n"
                     "try:\n    R.nll_loss(x, t)\n    diverges = False\nexcept IndexError:\n"
                     "    try:\n        F.nll_loss(x, t)\n        diverges = False\n"
                     "    except RuntimeError:\n        diverges = True\n"),
    Cause("nll-unchecked", "genuine", ("nll_loss",), ("error",), r"did not raise",
          "_refs validates no class index (a negative one wraps around, an int32 target is accepted), no weight "
          "size (2 weights for 3 classes) and not that a (C,) input has a 0-D target, where eager raises.",
          reproducer="x = torch.randn(2, 3)\nfailures = 0\n"
                     "for args, kwargs in [((x, torch.tensor([0, -1])), {}), ((x, torch.tensor([0, 1], "
                     "dtype=torch.int32)), {}),\n"
                     "                     ((x, torch.tensor([0, 1])), {'weight': torch.ones(2)}), "
                     "((x[0], torch.tensor([1, 2])), {})]:\n"
                     "    R.nll_loss(*args, **kwargs)  # accepted\n"
                     "    try:\n        F.nll_loss(*args, **kwargs)\n    except (IndexError, RuntimeError, "
                     "ValueError):\n        failures += 1\n"
                     "diverges = failures == 4\n"),
    Cause("smooth-l1-negative-beta", "genuine", ("smooth_l1_loss",), ("error",), r"beta=-",
          "_refs' smooth_l1_loss does not reject a negative beta (eager: RuntimeError 'smooth_l1_loss does not "
          "support negative values for beta').",
          reproducer="x, y = torch.randn(3), torch.randn(3)\nR.smooth_l1_loss(x, y, beta=-1.0)  # accepted\n"
                     "try:\n    F.smooth_l1_loss(x, y, beta=-1.0)\n    diverges = False\n"
                     "except RuntimeError:\n    diverges = True\n"),
)


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
        shown = ", ".join(f"{k} {checks[k]}" for k in ("forward", "backward", "error") if checks[k])
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
