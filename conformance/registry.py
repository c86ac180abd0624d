"""The registry: one record per function, the single source of the test domain.

A :class:`Spec` names the function (looked up by that name in ``reference`` and in the
target, never listed twice), its named input generator, the shapes, option domains,
dtypes and value classes to generate cases from, which arguments are differentiable,
tolerance overrides (each with its reason) and the inputs that must be rejected.

The records themselves live in ``conformance/specs/<family>.py``; this module gathers them.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .compare import Tolerance
from .dtypes import FLOAT_DTYPES


@dataclass(frozen=True)
class Gen:
    """An option value that stands for generated data (a weight tensor, a target kind).

    It prints as ``<name>`` in case ids: ``weight=<positive>``.
    """

    name: str

    def __repr__(self):
        return f"<{self.name}>"


@dataclass(frozen=True)
class ShapeDependent:
    """An option value computed from the case's shape, e.g. a class index inside ``[0, C)``."""

    name: str
    resolve: Callable[[tuple], Any]

    def __repr__(self):
        return f"<{self.name}>"


@dataclass
class Call:
    """Concrete arguments for one call, in signature order; the first ``positional`` are
    passed positionally. Floating-point arrays are float64 holding values of the case dtype;
    integer and boolean arrays keep their dtype."""

    args: dict
    positional: int = 1

    def split(self):
        items = list(self.args.items())
        return [v for _, v in items[: self.positional]], dict(items[self.positional:])


@dataclass(frozen=True)
class ErrorCase:
    """An invalid call: ``build(rng)`` returns its :class:`Call`; both the reference and the
    target must raise ``raises``. ``label`` reads like the call's arguments."""

    label: str
    build: Callable
    raises: type
    cpu_only: bool = False  # CUDA kernels assert on the device instead of raising


@dataclass(frozen=True)
class Spec:
    name: str
    sample: Callable  # (rng, case) -> Call: the named input generator
    shapes: tuple
    options: dict = field(default_factory=dict)  # name -> domain; the first value is the default
    dtypes: tuple = FLOAT_DTYPES
    values: tuple = ("normal",)  # value classes; the first is the main grid's
    differentiable: tuple = ("input",)
    tolerances: dict = field(default_factory=dict)  # dtype -> Tolerance with its reason
    errors: tuple = ()
    sizes: tuple = ()  # size regimes (conformance/sizes.py): shapes where kernels take another path
    valid: Callable = lambda case: True  # drops option combinations that are error cases instead
    # The torch release that introduced the function ("function") or an option value
    # ("label_smoothing" for any non-default value, "target=<probs>" for one value): on an
    # older torch those cases skip with a reason instead of failing.
    since: dict = field(default_factory=dict)

    def tolerance(self, dtype):
        return self.tolerances.get(dtype)

    def requires(self, options):
        """The newest torch release the case's options need, with the feature, or None."""
        needed = []
        for feature, release in self.since.items():
            name, _, value = feature.partition("=")
            if feature == "function" or any(k == name and (not value or repr(v) == value) for k, v in options):
                needed.append((_release(release), release, feature))
        return max(needed)[1:] if needed else None


def _release(version):
    return tuple(int(p) for p in version.split("+")[0].split(".")[:2] if p.isdigit())


def torch_release_at_least(installed, release):
    """``installed`` (e.g. "2.13.0+cpu") is ``release`` (e.g. "1.10") or newer."""
    return _release(installed) >= _release(release)


class _Registry(Mapping):
    """``{function name: Spec}``, read from ``conformance/specs/*`` on first use.

    Lazy so that a specs module can be imported on its own (it imports this module for
    :class:`Spec`), and so that loading the pytest plugin costs nothing until the suite's own
    tests are collected."""

    def __init__(self):
        self._specs = None

    def _load(self):
        if self._specs is None:
            import importlib
            import pkgutil

            from . import specs as package

            specs = {}
            for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
                module = importlib.import_module(f"{package.__name__}.{info.name}")
                for spec in module.SPECS:
                    if spec.name in specs:
                        raise ValueError(f"{spec.name} is registered twice")
                    specs[spec.name] = spec
            self._specs = specs
        return self._specs

    def __getitem__(self, name):
        return self._load()[name]

    def __iter__(self):
        return iter(self._load())

    def __len__(self):
        return len(self._load())

    def __repr__(self):
        return f"REGISTRY({list(self)})"


REGISTRY = _Registry()


def select_functions(text):
    """The registered functions named in ``text`` (``"mse_loss,l1_loss"``), exactly, in registry
    order; raises ValueError naming the unknown ones and listing the known ones."""
    names = [n.strip() for n in str(text).split(",") if n.strip()]
    unknown = [n for n in names if n not in REGISTRY]
    if unknown or not names:
        raise ValueError(f"unknown function {', '.join(map(repr, unknown)) or '(none given)'}; "
                         f"known: {', '.join(REGISTRY)}")
    return tuple(n for n in REGISTRY if n in names)


__all__ = ["Call", "ErrorCase", "Gen", "REGISTRY", "ShapeDependent", "Spec", "Tolerance", "select_functions"]
