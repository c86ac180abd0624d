"""Bindings: torch.nn.functional's losses as other frameworks compute them, one module per
framework (``optax``, ``keras``, ``tinygrad``, ``mlx``), each an array target of the suite::

    python -m conformance --target conformance.bindings.optax --function cross_entropy

A binding is a table (``MAPPING``): per registry function, the framework's own public loss
function and how torch's arguments map onto it (:class:`conformance.bindings._shared.Binding`),
or why the framework has none (:class:`conformance.bindings._shared.Unmapped`); a function the
table leaves out is not provided either (its cases skip as "not provided by target"), though the
shipped bindings list every one. It renames arguments, moves axes, converts layouts and applies
the one shared plain sum/mean (:func:`conformance.bindings._shared.reduce`); it computes no loss.
``docs/compat/bindings.md`` renders the tables and the results.

The bindings are found as the registry finds its specs: every module of this package whose name
does not start with ``_`` is one (:func:`bindings`). Each needs its framework (the extra of its
name: ``pip install "torch-loss-conformance[optax]"``) and declares what it imports in its own
``REQUIRES``, and what it is in ``SUMMARY``; both are read from its source, so a binding whose
framework is not installed is still listed, with what it lacks.
"""

import ast
import importlib.util
import pkgutil
from dataclasses import dataclass


@dataclass(frozen=True)
class Framework:
    """A shipped binding, as :func:`bindings` finds it (without importing it)."""

    name: str  # the module's name in this package, the extra that installs its framework: "optax"
    module: str  # what --target takes: "conformance.bindings.optax"
    requires: tuple  # the module's REQUIRES: the top-level packages it imports ("optax", "jax")
    summary: str  # the module's SUMMARY: what the framework computes, in a few words

    def missing(self):
        """The packages of ``requires`` that are not installed here (none: the binding can run)."""
        return tuple(name for name in self.requires if importlib.util.find_spec(name) is None)

    def source(self):
        """The module's source text, read without importing it."""
        return _source(self.module)


def _source(module):
    with open(importlib.util.find_spec(module).origin, encoding="utf-8") as f:
        return f.read()


DECLARED = {"REQUIRES": tuple, "SUMMARY": str}  # what each binding module declares, as literals


def declared(source, where="<binding>"):
    """``{name: value}`` of the :data:`DECLARED` assignments of a binding module's ``source``."""
    found = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name) \
                and node.targets[0].id in DECLARED:
            try:
                found[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                raise ValueError(f"{where}: {node.targets[0].id} must be a literal") from None
    for name, kind in DECLARED.items():
        if not isinstance(found.get(name), kind) or not found[name]:
            raise ValueError(f"{where} must declare {name} = <a non-empty {kind.__name__} literal> "
                             f"(found {found.get(name)!r})")
    if not all(isinstance(package, str) and package for package in found["REQUIRES"]):
        raise ValueError(f"{where}: REQUIRES names packages, as strings: {found['REQUIRES']!r}")
    return found


def bindings():
    """Every shipped binding (a :class:`Framework`), by module name: each module of this package
    whose name does not start with ``_``, its ``REQUIRES`` and ``SUMMARY`` read from its source,
    so that a binding whose framework is not installed is found too."""
    found = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = f"{__name__}.{info.name}"
        values = declared(_source(module), module)
        found.append(Framework(info.name, module, values["REQUIRES"], values["SUMMARY"]))
    return found


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
        row = module.MAPPING.get(name)
        if row is None:
            lines.append(f"| `{name}` | none | | | not listed in the binding |")
            continue
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

    for framework in (argv if argv is not None else sys.argv[1:]) or [b.name for b in bindings()]:
        module = importlib.import_module(f"{__name__}.{framework}")
        print(f"<!-- table {framework} -->\n{render(module)}\n<!-- end table {framework} -->\n")
