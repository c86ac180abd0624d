"""Bindings: torch.nn.functional's losses as other frameworks compute them, one module per
framework (``optax``, ``keras``, ``tinygrad``, ``mlx``), each an array target of the suite::

    python -m conformance --target conformance.bindings.optax --function cross_entropy

A binding is a table (``MAPPING``): per registry function, the framework's own public loss
function and how torch's arguments map onto it (:class:`conformance.bindings._shared.Binding`),
or why the framework has none (:class:`conformance.bindings._shared.Unmapped`). It renames
arguments, moves axes, converts layouts and applies the one shared plain sum/mean
(:func:`conformance.bindings._shared.reduce`); it computes no loss. Each module needs its
framework (the extras ``optax``, ``keras``, ``tinygrad``, ``mlx``); ``docs/compat/bindings.md``
renders the tables and the results.
"""

FRAMEWORKS = ("optax", "keras", "tinygrad", "mlx")


def _name(f):
    return f.__name__.lstrip("_")


def _arguments(row):
    """What a :class:`Binding` row maps, in words."""
    parts = [f"`{a}` → `{b}`" for a, b in row.rename.items()]
    parts += [f"`{a}` by `{_name(f)}`" for a, f in row.convert.items()]
    parts += [f"`{a}` = `{_name(b)}(call)`" if callable(b) else f"`{a}` = `{b!r}`" for a, b in row.fixed.items()]
    if row.reduced:
        parts.append("shared plain sum/mean")
    return ", ".join(parts)


def _skipped(row):
    """The options a case may set that the framework does not provide."""
    parts = [f"{option} ≠ {value!r}" for option, value in row.drop.items()]
    parts += [f"{option} ∉ {{{', '.join(repr(v) for v in values)}}}" for option, values in row.only.items()]
    if row.reduced and "reduction" not in row.only:
        parts.append("reduction ∉ {'none', 'mean', 'sum'}")
    return ", ".join(parts) or "none"


def render(module):
    """A binding's ``MAPPING`` as a Markdown table, in registry order."""
    from ..registry import REGISTRY
    from ._shared import Unmapped

    lines = ["| torch function | framework function | arguments | skipped (not provided) | note |",
             "|---|---|---|---|---|"]
    for name in REGISTRY:
        row = module.MAPPING[name]
        if isinstance(row, Unmapped):
            lines.append(f"| `{name}` | none | | | {row.reason} |")
            continue
        functions = row.functions()
        shown = "<br>".join(f"`{path}`" + (f" ({label})" if label else "") for label, path in functions.items())
        lines.append(f"| `{name}` | {shown} | {_arguments(row)} | {_skipped(row)} | {row.note} |")
    return "\n".join(lines)


def main(argv=None):
    """``python -m conformance.bindings [FRAMEWORK...]``: the tables of docs/compat/bindings.md."""
    import importlib
    import sys

    for framework in (argv if argv is not None else sys.argv[1:]) or FRAMEWORKS:
        module = importlib.import_module(f"{__name__}.{framework}")
        print(f"<!-- table {framework} -->\n{render(module)}\n<!-- end table {framework} -->\n")
