"""Failure messages' last lines: the call that reproduces a failure, as Python source a reader
pastes after ``import torch, torch.nn.functional as F`` (or, for an array target, after importing
the port as ``port``), and the command that reruns the one check (:func:`conformance.ids.rerun`).

Arrays up to :data:`LITERAL_LIMIT` elements are written inline; larger ones are rebuilt from the
case's id (``conformance.harness.materialize``).
"""

import numpy as np

from . import ids
from .adapters import ArrayAdapter, TorchAdapter
from .cases import layout_of
from .tensors import TORCH_DTYPES

LITERAL_LIMIT = 64  # arrays up to this size are printed inline in reproducers


def _array_text(value, nan, inf):
    text = np.array2string(value, separator=", ", threshold=10**6, floatmode="unique", max_line_width=10**6)
    return " ".join(text.replace("nan", nan).replace("inf", inf).split())


def literal(value, dtype, numpy=False):
    """A value as Python source: a torch.tensor literal, or with ``numpy=True`` an np.array."""
    if isinstance(value, np.ndarray):
        floating = np.issubdtype(value.dtype, np.floating)
        if value.size == 0 and value.ndim != 1:  # a literal [] would lose the shape (0, 5)
            kind = dtype if floating else ("bool" if value.dtype == np.bool_ else value.dtype.name)
            return f"np.empty({value.shape}, dtype={kind!r})" if numpy else \
                f"torch.empty({value.shape}, dtype=torch.{kind})"
        if numpy:
            text = _array_text(value, "np.nan", "np.inf")
            return f"np.array({text}, dtype={dtype if floating else value.dtype.name!r})"
        text = _array_text(value, "float('nan')", "float('inf')")
        kind = dtype if floating else ("bool" if value.dtype == np.bool_ else value.dtype.name)
        return f"torch.tensor({text}, dtype=torch.{kind})"
    if not numpy and isinstance(value, str) and value in TORCH_DTYPES:
        return f"torch.{value}"
    return repr(value)


def describe_call(function, call, dtype, target_name="F", numpy=False):
    """The call as Python source, with its arrays inline (torch tensors, or NumPy arrays)."""
    parts = []
    for i, (name, value) in enumerate(call.args.items()):
        text = literal(value, dtype, numpy)
        parts.append(text if i < call.positional else f"{name}={text}")
    return f"{target_name}.{function}({', '.join(parts)})"


def small(call):
    return all(v.size <= LITERAL_LIMIT for v in call.args.values() if isinstance(v, np.ndarray))


def speaks_torch(target):
    """Whether the target takes torch tensors, so its reproducers are torch calls. ``target`` may
    be the isolation worker's summary of one (its name and its adapter's name and dtypes)."""
    adapter = getattr(target, "adapter", None)
    if adapter is None or isinstance(adapter, TorchAdapter):
        return True
    return not isinstance(adapter, ArrayAdapter) and getattr(adapter, "name", None) == TorchAdapter.name


def call_line(target):
    """``(label, materializer, module name, NumPy literals?)`` of the target's reproducers."""
    if speaks_torch(target):
        return "call", "materialize", "F", False
    return f"call (through the adapter {target.adapter.name!r})", "materialize_arrays", "port", True


def reproducer(case, call, test, target):
    """Two lines: the call (pasteable after ``import torch, torch.nn.functional as F``, or for an
    array target after importing the port as ``port``) and the command that reruns this one case."""
    label, materializer, module, numpy = call_line(target)
    if small(call) and layout_of(case) == "contiguous":
        call_text = describe_call(case.function, call, case.dtype, module, numpy=numpy)
    else:
        call_text = (f"from conformance.harness import {materializer}; "
                     f"args, kwargs = {materializer}({case.id!r}); {module}.{case.function}(*args, **kwargs)")
    rerun = ids.rerun(ids.node(test, case.id), target, case.device)
    return f"{label}: {call_text}\nrerun: {rerun}"
