"""What every binding shares: the table entry (:class:`Binding`), the one reduction a binding may
apply (:func:`reduce`), and the layout moves (class axis, unit axis, lengths as paddings).

Nothing here computes a loss. A binding maps torch's names, axes and options onto a framework's
own public loss function; the framework computes, and the suite judges what it computes.
"""

import dataclasses
import importlib
from dataclasses import dataclass, field

import numpy as np

from ..adapters import Signature

# The reductions this module applies for a framework that returns per-element losses only:
# the plain sum and mean (torch's 'mean' with no weight and nothing ignored).
PLAIN = ("none", "mean", "sum")


def reduce(losses, reduction):
    """torch's ``reduction`` over per-element ``losses``, with the framework's own ``sum``/``mean``
    methods. The one reduction of all bindings: anything else (a weighted mean, ``batchmean``, a
    mean over target lengths) is loss code and is skipped as "not provided by target"."""
    if reduction == "none":
        return losses
    if reduction == "sum":
        return losses.sum()
    if reduction == "mean":
        return losses.mean()
    raise AssertionError(f"{reduction!r} reached reduce(); Binding.unsupported skips it")


@dataclass(frozen=True)
class Unmapped:
    """A torch function the framework does not provide, and why (a row of a binding's table)."""

    reason: str


@dataclass
class Binding(Signature):
    """One row of a binding's table (made by :func:`bind`): the torch function served by the
    framework function ``function`` (a dotted path, ``"optax.losses.ctc_loss"``, ``"tinygrad.Tensor.nll_loss"`` for a
    method, called with the tensor as its first argument), and how torch's arguments map onto it.

    ``function`` may be a dict ``{label: path}`` when torch's one function is several of the
    framework's (index or probability targets); ``choose(values)`` then returns the label, from the
    call's torch-named values. Beyond :class:`conformance.adapters.Signature` (``rename``,
    ``positional``, ``drop``, ``convert``, ``output``):

    * ``only``: torch option -> the values the framework provides; a case with another value is
      skipped as "not provided by target" (``drop`` does the same for options not passed at all).
    * ``fixed``: framework argument -> a value, or ``f(values)`` of the call's torch-named values
      (an axis from the input's rank, paddings from lengths).
    * ``consumed``: torch arguments that only feed ``fixed`` and are not passed themselves.
    * ``result``: ``f(out, values)``, the framework's result in torch's layout when that depends on
      the call (an unbatched call given to the framework as a batch of one).
    * ``reduced``: the framework returns per-element losses; torch's ``reduction`` is applied by
      :func:`reduce` (only ``"none"``, ``"mean"``, ``"sum"``; other values skip).
    * ``note``: what the table shows beside the function (a layout move, an identity used).
    """

    function: object = None
    choose: object = None
    only: dict = field(default_factory=dict)
    fixed: dict = field(default_factory=dict)
    consumed: tuple = ()
    result: object = None
    reduced: bool = False
    note: str = ""

    def functions(self):
        """``{label: dotted path}`` of the framework functions this row calls."""
        return dict(self.function) if isinstance(self.function, dict) else {"": self.function}

    def framework(self):
        return " / ".join(self.functions().values())

    def resolve(self, label=""):
        return resolve(self.functions()[label])

    def unsupported(self, torch_kwargs):
        restricted = {name: (value,) for name, value in self.drop.items()} | dict(self.only)
        if self.reduced:
            restricted["reduction"] = tuple(v for v in restricted.get("reduction", PLAIN) if v in PLAIN)
        for option, allowed in restricted.items():
            if option not in torch_kwargs:
                continue
            value = torch_kwargs[option]
            if any(_same(value, a) for a in allowed):
                continue
            shown = f"{option!r} argument" if hasattr(value, "shape") else f"{option}={value!r}"
            if option == "reduction" and self.reduced:
                why = f"{self.framework()} returns per-element losses, and the binding applies only the plain " \
                      f"{' / '.join(repr(r) for r in allowed)}"
            else:
                why = f"{self.framework()} has no {shown}; only " + \
                      ", ".join(f"{option}={a!r}" for a in allowed) + " is checked"
            return f"not provided by target: {why}"
        if "ignore_index" in self.drop:
            return _ignored_entries(self.framework(), torch_kwargs)
        return None

    def as_signature(self):
        """This row as the plain :class:`Signature` it extends, whose :meth:`Signature.wrap` maps every
        call: the arguments a Binding keeps out of the call (``consumed``; ``reduction`` when
        ``reduced``) passed to it as dropped ones, which it leaves out of the call and still hands
        to ``fixed``."""
        kept_out = dict.fromkeys(self.consumed) | ({"reduction": None} if self.reduced else {})
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(Signature)}
        return Signature(**{**fields, "drop": {**kept_out, **self.drop}})

    def wrap(self, fn, torch_names, positional):
        """The framework function behind torch's calling convention: :meth:`Signature.wrap` (names,
        conversions, ``fixed``, order, ``output``; a ``fixed`` argument that a torch argument
        already maps to is an error there), with the framework function chosen per call
        (``choose``), then ``result`` and the shared reduction applied."""
        signature = self.as_signature()
        mapped = signature.wrap(fn, torch_names, positional) if self.choose is None else None

        def wrapped(*args, **kwargs):
            values = dict(zip(torch_names[: len(args)], args, strict=True))
            values.update(kwargs)
            call = mapped or signature.wrap(self.resolve(self.choose(values)), torch_names, positional)
            out = call(*args, **kwargs)
            if self.result is not None:
                out = self.result(out, values)
            if not self.reduced:
                return out
            # an error case may leave reduction out: torch's default then applies
            return reduce(out, values.get("reduction", "mean"))

        return wrapped


def _ignored_entries(framework, arguments):
    """torch's default ``ignore_index=-100`` acts too: index targets holding it have those
    entries left out. A framework without ignore_index would index with them, so such a case
    is skipped. (Needs the call's positional arguments, which the harness passes to
    ``Signature.unsupported`` from the interface's next revision on.)"""
    target, ignore_index = arguments.get("target"), arguments.get("ignore_index", -100)
    if target is None or not hasattr(target, "dtype") or "float" in str(target.dtype):
        return None
    if (np.asarray(target) == ignore_index).any():
        return (f"not provided by target: {framework} has no ignore_index, and the target holds "
                f"ignore_index={ignore_index} entries (torch leaves them out)")
    return None


def bind(function, **arguments):
    """The :class:`Binding` of torch's function to the framework's ``function`` (a dotted path, or
    ``{label: path}``), with the argument mappings as keywords."""
    return Binding(function=function, **arguments)


def _same(a, b):
    if isinstance(a, float) and isinstance(b, float) and a != a and b != b:
        return True
    return a is b or (not hasattr(a, "shape") and not hasattr(b, "shape") and a == b)


def resolve(path):
    """The object a dotted path names: the longest importable module prefix, then attributes."""
    parts = path.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for attribute in parts[i:]:
            obj = getattr(obj, attribute)
        return obj
    raise ImportError(f"cannot import {path}")


def table(mapping):
    """``(ARGUMENTS, functions)`` of a binding's ``MAPPING``: the :class:`Binding` rows, and each
    mapped torch name bound to its framework function (the module attributes the suite calls).

    A registry function the table does not list is one the binding does not provide, like an
    :class:`Unmapped` row: the module defines no such function and its cases skip as "not provided
    by target". A name the registry does not have (a typo) is an error. (Each shipped binding lists
    every registry function, once: ``tests/test_bindings.py`` checks it.)"""
    from ..registry import REGISTRY

    unknown = [name for name in mapping if name not in REGISTRY]
    if unknown:
        raise ValueError(f"MAPPING names functions the registry does not have: {unknown} "
                         f"(the registry's: {', '.join(REGISTRY)})")
    arguments = {name: row for name, row in mapping.items() if isinstance(row, Binding)}
    return arguments, {name: row.resolve(next(iter(row.functions()))) for name, row in arguments.items()}


# Layout moves: the same numbers, in the framework's arrangement.


def class_axis(x):
    """torch's class axis: 0 for an unbatched ``(C,)`` input, else 1."""
    return 0 if x.ndim == 1 else 1


def softmax_dim(dim, ndim):
    """The axis torch's ``softmax(input, dim=None)`` uses (its legacy implicit dim)."""
    if dim is not None:
        return dim
    return 0 if ndim in (0, 1, 3) else 1


def softmax_axis(values):
    """The axis of a softmax call, from its torch-named ``values`` (``dim``, else the implicit one)."""
    return softmax_dim(values["dim"], values["input"].ndim)


def input_class_axis(values):
    """The class axis of a call's ``input``."""
    return class_axis(values["input"])


def unit_axis(x):
    """``x`` with a trailing axis of length 1: a framework that reduces the last axis (the features
    of a sample) then reduces over one element and returns the per-element losses."""
    return x[..., None]


def unbatched(out, values):
    """A CTC loss of an unbatched call, computed as a batch of one, in torch's unbatched shape."""
    return out[0] if values["log_probs"].ndim == 2 else out


def is_floating(x):
    return "float" in str(x.dtype)


def padded_targets(np, targets, target_lengths):
    """torch's CTC ``targets`` (padded ``(N, S)``, concatenated ``(sum(target_lengths),)`` or one
    unbatched ``(S,)``) as a padded ``(N, S)`` NumPy array and the ``(N,)`` lengths."""
    lengths = np.asarray(target_lengths).reshape(-1).astype(np.int64)
    targets = np.asarray(targets)
    if targets.ndim == 2:
        return targets, lengths
    if lengths.size == 1 and targets.size >= lengths[0]:
        return targets.reshape(1, -1), lengths
    width = max(int(lengths.max(initial=0)), 1)
    padded = np.zeros((lengths.size, width), dtype=targets.dtype)
    start = 0
    for i, k in enumerate(lengths):
        padded[i, :k] = targets[start:start + k]
        start += k
    return padded, lengths
