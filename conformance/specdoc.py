"""Generate SPEC.md from the reference docstrings and the registry.

    python -m conformance.specdoc            # rewrite SPEC.md
    python -m conformance.specdoc --check    # exit 1 if SPEC.md is stale (tests/test_specdoc.py does this)
    python -m conformance.specdoc --measure  # re-measure torch's worst errors (torch_accuracy.json), then rewrite

Stale means a difference in the text or in a number beyond the float64 budget (``stale``):
the last digits of a result depend on the host.

Per function: the signature, the reference docstring (formula, what each reduction divides
by, shapes, options, torch's quirks, errors, a worked example), the gradient from the
``_backward`` docstring, the test domain from the registry and its size regimes, the edge cases
and invalid inputs with the result the suite checks and the test id that checks it, dtype
support, tolerances and the worst error torch shows against them (``torch_accuracy.json``,
measured by ``--measure``), and the known torch divergences. Formulas are LaTeX in ```math blocks, which
GitHub renders and which read as plain text anywhere else.
"""

import difflib
import inspect
import os
import re
import sys
import warnings

import numpy as np

import reference

from . import divergences, ids, options, publish
from .cases import conformance_grid, generate, transform_grid
from .compare import TOLERANCES, budget_growth
from .harness import ErrorInstance
from .registry import REGISTRY, ShapeDependent

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PATH = os.path.join(ROOT, "SPEC.md")
DIVERGENCES = ("The records of `conformance/known_divergences/`. The grid's cases that a regular expression on "
               "the case id matches are strict xfails unless marked; the property search leaves the drawn inputs "
               "for which a predicate of `known_divergences/predicates.py` holds unjudged, and the record's "
               "reproducer must keep failing.")
ACCURACY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch_accuracy.json")
SECTIONS = ("Shape:", "Torch behaviour:", "Raises:", "Examples:", "Returns")

# The last bits of a float64 result depend on the host (SIMD kernels, libm), so the numbers
# in SPEC.md are compared within the suite's float64 budget for a result of magnitude >= 1,
# rtol + atol (the normwise floor atol * max(|x|, 1) is then atol * |x|). It is applied
# relatively at every magnitude, so that a small constant (a tolerance of 1e-12) must
# still match to 12 digits, and 0.0 stays exact.
BUDGET = TOLERANCES["float64"].rtol + TOLERANCES["float64"].atol
# One unit in the 13th significant digit is at most 1e-12 of the value, half of BUDGET: the
# rounding of what is shown leaves the other half to the host.
DIGITS = 13
# Only a number with a decimal point or an exponent is a value that may move within BUDGET;
# integers (shapes, counts, p=3, ids) are labels and stay exact, as do nan and inf (words).
# The guards keep version strings such as 2.13.0 whole, as text.
NUMBER = re.compile(r"(?<![\w.])([-+]?(?:\d+\.\d*(?:[eE][-+]?\d+)?|\d+[eE][-+]?\d+))(?!\w|\.\d)")


def _inline(text):
    text = re.sub(r":math:`([^`]*)`", lambda m: "$" + " ".join(m.group(1).split()) + "$", text, flags=re.S)
    text = re.sub(r":func:`([^`]*)`", r"`\1`", text)
    return re.sub(r"(?<!`)``(?!`)", "`", text)


def docstring_to_markdown(doc):
    """reST-flavoured docstring -> Markdown: math blocks, inline math, section headers, doctests."""
    lines = inspect.cleandoc(doc).splitlines()
    out, i = [], 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if stripped.startswith(".. math::"):
            indent = len(line) - len(line.lstrip())
            body = [stripped[len(".. math::"):].strip()]
            i += 1
            while i < len(lines) and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > indent):
                body.append(lines[i].strip())
                i += 1
            out += ["", "```math", "\n".join(b for b in body if b), "```", ""]
            continue
        if stripped in SECTIONS or stripped.startswith(SECTIONS) and stripped.endswith(":"):
            out += ["", f"**{stripped[:-1]}**", ""]
            if stripped == "Examples:":
                example = []
                i += 1
                while i < len(lines) and (not lines[i].strip() or lines[i].startswith(" ")):
                    example.append(lines[i][4:] if lines[i].startswith("    ") else lines[i])
                    i += 1
                out += ["```python", "\n".join(example).strip(), "```", ""]
                continue
            i += 1
            items = []
            while i < len(lines) and (lines[i].startswith(" ") or not lines[i].strip()):
                body = lines[i].strip()
                if body and (not items or (lines[i].startswith("    ") and not lines[i].startswith("     ")
                                           and re.match(r"^[\w .,()]+:\s", body))):
                    items.append(body)
                elif body:
                    items[-1] += " " + body
                i += 1
            out += [f"- {item}" for item in items] + [""]
            continue
        out.append(line)
        i += 1
    text = _inline("\n".join(out))
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _signature(function):
    fn = getattr(reference, function)
    return f"{function}{inspect.signature(fn)}"


def _shown(x):
    return repr(float(f"{x:.{DIGITS}g}"))


def _summary(value):
    value = np.asarray(value)
    if value.ndim == 0:
        return _shown(float(value))
    finite = np.isfinite(value)
    parts = [f"shape {value.shape}"]
    if value.size and finite.all():
        parts.append("all finite")
    for name, mask in (("NaN", np.isnan(value)), ("+inf", value == np.inf), ("-inf", value == -np.inf)):
        if mask.any():
            parts.append(f"{int(mask.sum())} {name}")
    return ", ".join(parts)


def _reference_result(case):
    call = case.spec.sample(case.rng(), case)
    positional, keywords = call.split()
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return _summary(getattr(reference, case.function)(*positional, **keywords))


def _fmt_option(value):
    return repr(value)


def _edge_cases(spec):
    """Representative float64 cases: empty batches per reduction, each value class, each option value."""
    cases = generate(spec, dtypes=("float64",)) or generate(spec)
    # Prefer a batched, non-empty shape as the representative of each option value.
    batched = [tuple(s) for s in spec.shapes if len(s) >= 2 and 0 not in s]
    if batched:
        cases.sort(key=lambda c: c.shape != batched[0])
    chosen, seen = [], set()

    def pick(label, predicate):
        for case in cases:
            if predicate(case) and case.id not in seen:
                seen.add(case.id)
                chosen.append((label, case))
                return

    def alone(case, name, value):
        """``case`` leaves every option but ``name`` at its default, sets ``name`` to ``value``
        (the default value: leaves it too) and has the main grid's values."""
        wanted = value.resolve(case.shape) if isinstance(value, ShapeDependent) else value
        expected = () if value is spec.options[name][0] else ((name, wanted),)
        return case.options == expected and case.values == spec.values[0]

    if "reduction" in spec.options:
        for reduction in spec.options["reduction"]:
            pick(f"empty batch, reduction={reduction!r}",
                 lambda c, r=reduction: 0 in c.shape and alone(c, "reduction", r))
    for values in spec.values[1:]:
        pick(f"values={values}", lambda c, v=values: c.values == v)
    for name, domain in spec.options.items():
        for value in domain[1:]:
            pick(f"{name}={_fmt_option(value)}", lambda c, n=name, v=value: alone(c, n, v))
    return chosen


def _table(rows, header):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _domain(spec):
    rows = []
    for name, domain in spec.options.items():
        rows.append((f"`{name}`", ", ".join(f"`{v!r}`" for v in domain), f"`{domain[0]!r}`"))
    return _table(rows, ("option", "values generated", "default"))


def _tolerances(spec):
    rows = []
    for dtype in spec.dtypes:
        tol = spec.tolerance(dtype) or TOLERANCES[dtype]
        source = "override: " + tol.reason if spec.tolerance(dtype) else tol.reason
        rows.append((dtype, f"{tol.rtol:.3g}", f"{tol.atol:.3g}", source))
    return _table(rows, ("dtype", "rtol", "atol (x scale)", "reason"))


def _sizes(spec):
    rows = [(s.regime, ", ".join(f"`{tuple(shape)!r}`" for shape in s.shapes),
             ", ".join(f"`{k}={v!r}`" for k, v in s.options) or "in rotation", s.why) for s in spec.sizes]
    return _table(rows, ("regime", "input shapes", "options", "the path it reaches"))


def measure(path=ACCURACY):
    """Run every case of the conformance grid (its size regimes included) against torch.nn.functional
    in this process and write, per function, dtype and check, the largest share of its budget and
    the largest relative error of a passing check (the xfails of torch's known divergences left out)."""
    import json

    import torch
    import torch.nn.functional as F

    from .checks import CHECKS
    from .targets import TorchTarget

    target, known, worst = TorchTarget(F), divergences.load(), {}
    torch.set_num_threads(1)
    for case in conformance_grid():
        for check in ("forward", "backward"):
            record = divergences.first_applying(known, check, case.id)
            if record is not None and record.kind == "grid":
                continue
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                outcome = CHECKS[check].run(case, target)
            if outcome.status != "passed":
                continue
            cell = worst.setdefault(case.function, {}).setdefault(case.dtype, {}).setdefault(check, [0.0, 0.0])
            cell[0], cell[1] = max(cell[0], outcome.used), max(cell[1], outcome.max_rel)
    data = {"torch": torch.__version__.split("+")[0], "device": "cpu", "worst": worst}
    publish.write_text(path, json.dumps(data, indent=1, sort_keys=True) + "\n")


def _accuracy(name):
    import json

    if not os.path.exists(ACCURACY):
        return []
    with open(ACCURACY) as f:
        data = json.load(f)
    cells = data["worst"].get(name, {})
    rows = []
    for dtype in REGISTRY[name].dtypes:
        row = [dtype]
        for check in ("forward", "backward"):
            used, rel = cells.get(dtype, {}).get(check, (None, None))
            row += ["-", "-"] if used is None else [f"{100 * used:.3g} %", f"{rel:.2g}"]
        rows.append(tuple(row))
    return ["### torch's worst error", "",
            f"Over every passing case of the grid (its size regimes included) on torch {data['torch']}'s CPU: "
            "the largest share of its budget an element or a tensor's scale error took, and the largest "
            "relative error (of the tensor's normwise floor where that is larger), so a port sees how much "
            "room torch leaves (`python -m conformance.specdoc --measure` measures them again).", "",
            _table(rows, ("dtype", "forward: budget used", "forward: relative error", "backward: budget used",
                          "backward: relative error")), ""]


TRANSFORMS = {"jvp": "forward mode (`jvp`)", "gradgrad": "double backward (`gradgrad`)",
              "vmap": "`vmap` and `vmap(grad)`"}


def _transforms(name):
    """What torch does with the training transforms of ``name`` (``conformance/transforms.py``):
    checked, declared unsupported (``unsupported_transforms.toml``), or checked with known divergences."""
    unsupported = divergences.unsupported_transforms().get(name, {})
    known = divergences.for_function(name)
    rows = []
    for check, what in TRANSFORMS.items():
        if check in unsupported:
            status = f"unsupported by torch: {unsupported[check]}"
        else:
            records = [d for d in known if check in d.tests and d.kind == "grid"]
            patterns = ", ".join(f"`{d.pattern}`" for d in records)
            status = "checked" + (f"; a known divergence on the cases matching {patterns}" if records else "")
        rows.append((what, status))
    return ["### Transforms", "",
            f"The transform checks run on {len(transform_grid([name]))} cases (every option combination in float64 "
            "and float32, normal values), against oracles built from the reference alone (docs/transforms.md).", "",
            _table(rows, ("transform", "on torch")), ""] + (
        [f"What torch does: {divergences.unsupported_transform_details()[name]}", ""] if unsupported else [])


def function_section(name):
    spec = REGISTRY[name]
    forward = getattr(reference, name)
    backward = getattr(reference, name + "_backward")
    out = [f"## {name}", "", "```python", _signature(name), "```", "", docstring_to_markdown(forward.__doc__), ""]
    out += ["### Gradient", "", f"`{name}_backward{inspect.signature(backward)}`", "",
            docstring_to_markdown(backward.__doc__), ""]
    out += ["### Test domain", "",
            f"Shapes: {', '.join('`' + repr(tuple(s)) + '`' for s in spec.shapes)}. "
            f"Value classes: {', '.join('`' + v + '`' for v in spec.values)}. "
            f"Differentiable arguments: {', '.join('`' + d + '`' for d in spec.differentiable)}. "
            f"Generated cases per device: {len(generate(spec))}."
            + ("".join(f" Needs torch >= {r} for {f if f != 'function' else 'the function'} (older: skipped)."
                       for f, r in spec.since.items())), ""]
    if spec.options:
        out += [_domain(spec), ""]
    if spec.sizes:
        out += ["### Size regimes", "",
                "Shapes where kernels leave the path small inputs take (`conformance/sizes.py`): one case per shape "
                "and dtype, with the options the regime pins and the others in rotation.", "", _sizes(spec), ""]
    out += ["### Edge cases", "",
            f"The float64 result of the reference that the suite checks, to {DIGITS} significant digits (another "
            "host may differ in the last), and the test that checks it (the same case runs in every dtype of the "
            "grid).", ""]
    rows = [(label, _reference_result(case), f"`{ids.checkout_node('forward', case.id)}`")
            for label, case in _edge_cases(spec)]
    out += [_table(rows, ("case", "reference result", "test")), ""]
    if spec.errors:
        out += ["### Invalid inputs", ""]
        rows = [(f"`{e.label}`", e.raises.__name__ + (" (CPU; CUDA asserts)" if e.cpu_only else ""),
                 f"`{ids.checkout_node('error', ErrorInstance(name, i).id)}`") for i, e in enumerate(spec.errors)]
        out += [_table(rows, ("call", "raises", "test")), ""]
    out += ["### Dtypes and tolerances", "",
            f"Checked in {', '.join(spec.dtypes)}. Budgets grow by `1 + log2(n)` with the number n of input "
            f"elements (e.g. x{budget_growth(1000):.3g} for 1000); in float16 and bfloat16 only a float32 "
            "accumulation term grows.", "", _tolerances(spec), ""]
    out += _accuracy(name)
    out += _transforms(name)
    known = divergences.for_function(name)
    if known:
        out += ["### Known torch divergences", "", DIVERGENCES, ""]
        for d in known:
            link = f" ({d.link})" if d.link else ""
            strict = "" if d.strict else " *(not strict)*"
            cases = (f"cases matching `{d.pattern}`" if d.kind == "grid"
                     else f"drawn inputs where `{d.predicate}` holds (reproducer `{d.reproducer}`)")
            out.append(f"- **{'/'.join(d.tests)}**, {cases}{strict}: {d.reason}{link}")
        out.append("")
    return "\n".join(out)


HEADER = """# Specification of torch.nn.functional's losses

Generated by `python -m conformance.specdoc` from the reference docstrings (`reference/`),
the registry (`conformance/specs/`) and the known divergences
(`conformance/known_divergences/`), against torch {torch}. Do not edit: a test fails when
this file is stale.

Every edge case and invalid input below names the test that verifies it; run one with
`pytest "<test id>"`. Conventions used throughout:

* The reductions are `"none"` (the unreduced losses), `"sum"` and `"mean"`; what `"mean"`
  divides by is stated per function. `"sum"` of nothing is 0 and `"mean"` of nothing is
  NaN (0 / 0).
* `f_backward(grad_output, *args)` returns the gradient of `sum(grad_output * f(*args))`
  with respect to each floating-point argument torch differentiates.
* Shapes use torch's notation: `N` the batch, `C` the classes, `d_1, ..., d_K` extra
  dimensions.
* The default tolerance policy is in docs/tolerance.md and
  `conformance/compare.py`; per-function budgets are listed below.

## Contents

"""


def render():
    import torch

    names = list(REGISTRY)
    toc = "\n".join(f"- [{n}](#{n})" for n in names)
    sections = "\n".join(function_section(n) for n in names).rstrip()
    return HEADER.format(torch=torch.__version__.split("+")[0]) + toc + "\n\n" + sections + "\n"


def same_numbers(written, generated):
    """Whether two texts are equal but for numbers within ``BUDGET`` of each other (see ``NUMBER``).

    >>> same_numbers("| p=3 | 3.067689102567873 |", "| p=3 | 3.067689102567872 |")
    True
    >>> same_numbers("| p=3 | 3.0676891 |", "| p=3 | 3.0676892 |"), same_numbers("(1, 4) 0.5", "(1, 5) 0.5")
    (False, False)
    """
    a, b = NUMBER.split(written), NUMBER.split(generated)
    return len(a) == len(b) and a[0::2] == b[0::2] and all(
        x == y or abs(float(x) - float(y)) <= BUDGET * max(abs(float(x)), abs(float(y)))
        for x, y in zip(a[1::2], b[1::2], strict=True))


def stale(written, generated):
    """The unified diff from ``written`` to ``generated`` without the lines ``same_numbers``
    accepts: empty when ``written`` is fresh."""
    old, new = written.splitlines(keepends=True), generated.splitlines(keepends=True)
    if len(old) == len(new):
        new = [o if same_numbers(o, n) else n for o, n in zip(old, new, strict=True)]
    return list(difflib.unified_diff(old, new, "SPEC.md", "generated", n=0))


def main(argv=None):
    parser = options.Parser(prog="python -m conformance.specdoc")
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if SPEC.md differs from the generated text (numbers: beyond the float64 budget)")
    parser.add_argument("--measure", action="store_true",
                        help="run the grid against torch first and write its worst errors to torch_accuracy.json "
                             "(a few minutes)")
    args = parser.parse_args(argv)
    if args.measure:
        measure()
    text = render()
    if args.check:
        with open(PATH) as f:
            diff = stale(f.read(), text)
        if diff:
            print("SPEC.md is stale: run python -m conformance.specdoc\n" + "".join(diff), file=sys.stderr)
        return int(bool(diff))
    publish.write_text(PATH, text)
    print(f"wrote {PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
