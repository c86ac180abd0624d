"""Adapters: how the suite speaks to an implementation's arrays, whatever the framework.

Every target is spoken to through an adapter, and every case goes through the same three
checks (``conformance/harness.py``: forward, backward, error) whatever the adapter is. A
module that defines a module-level ``ADAPTER`` (an :class:`ArrayAdapter`) is an *array
target*: the suite hands its functions that framework's arrays and reads the results back
through the adapter. A module without one is a *torch target*, spoken to through
:class:`TorchAdapter` (torch tensors on the case's device, gradients from autograd). Either
may define ``ARGUMENTS``, a dict mapping a torch function name to a :class:`Signature` that
translates torch's call into the port's (names, order, fixed extra arguments, options the
port lacks, layouts, method-style calls, dtypes and gradients it does not have). So a
binding of another framework gets the whole suite (the same cases, reference values,
tolerances and messages as torch itself) by writing a table, never a loss formula: a
binding maps arguments and never reimplements a loss. Whatever a target does not provide (a
function, a dtype, an option, a device, gradients) is reported as skipped with its reason, never
as passed.

An adapter (subclass :class:`ArrayAdapter`; ``docs/porting.md`` has the same as one table):

Attributes

* ``name``: the framework's name, quoted in messages (``"jax"``).
* ``dtype_names``: the floating dtypes the framework has at all, by torch's names
  (default ``("float64", "float32", "float16")``).
* ``raises``: ``{registered exception class: (further classes accepted for it)}`` for the
  error cases (default ``{}``: only the class torch raises passes).
* ``layouts``: the memory layouts of ``conformance/layouts.py`` that ``arrange`` can store
  (default ``()``: the layout cases skip; :class:`TorchAdapter`: all of them).

Where a case can run (each returns a skip reason, or ``None`` when it can run)

* ``unavailable(device)``: why cases on ``device`` (any torch device string: ``"cpu"``,
  ``"cuda"``, ``"cuda:1"``, ``"xpu"``, ``"mps"``, a privateuse1 backend) cannot run here.
  Default: ``None`` for the CPU, a reason for any other device (the framework's arrays are
  where the framework puts them); :class:`TorchAdapter` asks torch whether the device is
  there (``meta`` never is: it cannot run a case).
* ``unsupported(function, dtype_name)``: why ``function`` cannot run in ``dtype_name``
  (called for the case dtype and for the output dtype of ``softmax(..., dtype=...)``).
  Default: a reason for a dtype not in ``dtype_names``. Override it for per-function gaps
  ("float16 exists, but this kernel has none on the CPU"); a table entry can say the same
  with ``Signature(dtypes=...)``.
* ``on(device)``: the adapter for a case on ``device``, called only when ``unavailable``
  said ``None``; default ``self``. :class:`TorchAdapter` returns one that places tensors on
  ``device``.

Arguments (the suite's NumPy values to the framework)

* ``asarray(value, dtype_name)`` (required): a NumPy array as the framework's array.
  Floating arrays arrive as float64 holding values exactly representable in ``dtype_name``
  (the case dtype); integer and boolean arrays arrive with ``dtype_name`` their own NumPy
  dtype name (``"int64"``, ``"uint8"``, ``"bool"``).
* ``dtype(name)``: the framework's dtype object for the option ``dtype="float64"`` of
  ``softmax``/``log_softmax`` (default: the name itself).
* ``convert(value, dtype_name)``: any argument: arrays through ``asarray``, everything else
  (options, callables) unchanged. Rarely overridden.
* ``arrange(x, layout)``: an argument of a layout case (``"transposed"``, ``"sliced"``,
  ``"expanded"``, ``"channels_last"``) stored that way, same values; only for ``layouts``.
* ``watch(x)``: an argument the backward check differentiates, before the call. Tape-based
  frameworks mark it here (torch: ``requires_grad_()``); default: ``x`` unchanged.
* ``snapshot(x)``: the exact contents of an argument, compared with ``==`` before and after
  the call to catch in-place modification (default: shape and bytes of ``to_numpy(x)``).

Results (the framework's arrays back to the suite)

* ``to_numpy(x)`` (required): float64 NumPy values of a result.
* ``is_array(x)``: whether a result is the framework's array at all (default ``True``).
* ``dtype_name(x)``: the result's dtype by torch's names (``"float32"``), or ``None`` when
  the framework cannot say (the dtype is then not checked). Default ``None``.
* ``result_problems(x, dtype_name, what="output")``: the failure messages for a result
  that should be an array of ``dtype_name`` (not an array; another dtype; for torch also
  another device); ``what`` is ``"output"`` or ``"grad of <argument>"``. Rarely overridden.

Calls

* ``call(fn, args, kwargs)``: how to call one of the port's functions (e.g. under
  ``jax.jit``); ``fn`` is already behind torch's calling convention (``ARGUMENTS``
  applied). Default ``fn(*args, **kwargs)``.
* ``gradients(fn, args, kwargs, names, grad_output, out)``: the vector-Jacobian product of
  ``fn`` at ``(args, kwargs)`` with ``grad_output`` (a framework array in the output's
  dtype, the output's shape), i.e. the gradients of ``sum(grad_output * fn(...))``, for the
  arguments ``names``, as ``{name: array}``. The suite passes every argument by torch name
  (``args`` is empty), so ``names`` are keys of ``kwargs``, and ``fn`` closes over the
  signature mapping. ``out`` is what ``fn`` returned for exactly these arguments in this
  check (already checked): a tape-based framework differentiates it (torch:
  ``torch.autograd.grad(out, [kwargs[n] for n in names], grad_output)``), a functional one
  may ignore it and trace ``fn`` again (``jax.vjp``, ``mlx.core.vjp``). The rule for each
  value, the same for every adapter: an array is the gradient; ``None`` is a zero gradient
  (the output does not depend on the argument, exactly as ``torch.autograd.grad(...,
  allow_unused=True)``), checked against the reference like any other; a name missing
  from the dict fails the case ("grad of target: not returned"). Return ``None`` instead of
  a dict when the framework cannot differentiate this call (the case skips). An adapter
  that does not override ``gradients`` has no autodiff: backward cases skip, unless the
  target defines ``<f>_backward(grad_output, *args, **kwargs)`` returning ``{name:
  gradient}`` (the reference's convention), which the suite then uses instead (with the
  same rule), so a NumPy port can ship hand-written gradients. Arguments the framework
  deliberately does not differentiate are declared with ``Signature(no_grad=...)``.
* ``jvp``, ``gradgrad``, ``vmap``, ``vmap_grad``: the training transforms
  (``conformance/transforms.py``, docs/porting.md has their signatures); an adapter has those it
  overrides (``transforms``), and the checks of the others skip.
* ``accepted_exceptions(expected)``: the classes an error case accepts (default: the
  registered class and ``raises[expected]``). A target that raises nothing still fails: a
  silently accepted invalid input is the bug these cases catch.

An adapter method may raise :class:`Failure` to fail the case with its message as it is
(the torch adapter's "output does not require grad: the target detached the graph");
any other exception from the target's code fails it as ``raised <class>: <message>``.

``NumpyAdapter`` is the adapter for NumPy-level ports (bfloat16 through ``ml_dtypes`` when
it is installed); :func:`reference_module` wraps the reference itself as such a port, which
is the suite's self-check (``tests/test_adapters.py``). ``examples/jax_port.py`` is a worked
example for JAX.
"""

import copy
import inspect
from dataclasses import dataclass, field

import numpy as np
import torch

from .tensors import TORCH_DTYPES, bits, to_layout, to_numpy, to_torch, torch_dtype_name

FLOAT_NAMES = ("float64", "float32", "float16", "bfloat16")


class Failure(Exception):
    """Raised by an adapter (or a port) to fail the case with this message as it is."""


class ArrayAdapter:
    """How the suite speaks to a framework's arrays. Subclass it; see the module docstring."""

    name = "array"
    dtype_names = ("float64", "float32", "float16")  # floating dtypes the framework has
    raises = {}  # registered exception class -> tuple of further classes accepted for it
    layouts = ()  # the memory layouts ``arrange`` can store (conformance/layouts.py)

    # -- where a case can run: a skip reason, or None ------------------------------------

    def unavailable(self, device):
        """Why cases on ``device`` (a torch device string) cannot run here, or None."""
        if device == "cpu" or device.startswith("cpu:"):
            return None
        return "array targets run where their adapter puts them; --device applies to torch targets"

    def unsupported(self, function, dtype_name):
        """Why ``function`` cannot run in the floating dtype ``dtype_name``, or None."""
        if dtype_name not in self.dtype_names:
            return f"the adapter {self.name!r} has no {dtype_name}"
        return None

    def on(self, device):
        """The adapter for a case on ``device`` (one ``unavailable`` accepted)."""
        return self

    # -- arguments -----------------------------------------------------------------------

    def asarray(self, value, dtype_name):
        raise NotImplementedError

    def dtype(self, name):
        return name

    def convert(self, value, dtype_name):
        """Any argument of a call: arrays through :meth:`asarray` (floating ones in the case
        dtype ``dtype_name``, others in their own dtype), everything else unchanged."""
        if isinstance(value, np.ndarray):
            if np.issubdtype(value.dtype, np.floating):
                return self.asarray(value, dtype_name)
            return self.asarray(value, value.dtype.name)
        return value

    def arrange(self, x, layout):
        """``x`` (an array of this adapter) stored in ``layout``, one of ``self.layouts``."""
        raise NotImplementedError(f"the adapter {self.name!r} has no layouts")

    def watch(self, x):
        """An argument the backward check differentiates, before the call (torch:
        ``requires_grad_()``); default unchanged."""
        return x

    def snapshot(self, x):
        """The exact contents of an argument, to detect in-place modification."""
        a = np.asarray(self.to_numpy(x))
        return a.shape, a.tobytes()

    # -- results -------------------------------------------------------------------------

    def to_numpy(self, x):
        raise NotImplementedError

    def is_array(self, x):
        return True

    def dtype_name(self, x):
        return None

    def result_problems(self, x, dtype_name, what="output"):
        """Failure messages for a result ``x`` that should be an array of ``dtype_name``."""
        prefix = "" if what == "output" else f"{what}: "
        if not self.is_array(x):
            return [f"{prefix}returned {type(x).__name__}, but should return {self._kind()}"]
        got = self.dtype_name(x)
        if got is not None and got != dtype_name:
            return [f"{prefix}dtype: got {self._dtype_text(got)}, but should be {self._dtype_text(dtype_name)}"]
        return []

    def _kind(self):
        return f"an array of the adapter {self.name!r}"

    def _dtype_text(self, name):
        return name

    # -- calls ---------------------------------------------------------------------------

    def call(self, fn, args, kwargs):
        return fn(*args, **kwargs)

    def gradients(self, fn, args, kwargs, names, grad_output, out):
        """``{name: gradient or None}`` of ``sum(grad_output * fn(...))``; None without autodiff."""
        return None

    def accepted_exceptions(self, expected):
        return (expected,) + tuple(self.raises.get(expected, ()))

    @property
    def differentiates(self):
        """Whether this adapter has autodiff (overrides :meth:`gradients`)."""
        return type(self).gradients is not ArrayAdapter.gradients

    # -- transforms (conformance/transforms.py): an adapter has those it overrides --------------

    def jvp(self, fn, kwargs, tangents):
        """The tangent output of ``fn(**kwargs)`` for the tangents ``{name: array}`` (forward mode)."""
        raise NotImplementedError

    def gradgrad(self, fn, kwargs, names, grad_output, weights):
        """``({name: d s/d name}, d s/d grad_output)`` for ``s = sum over names of <weights[name],
        gradient of <grad_output, fn(**kwargs)> with respect to name>``: the double backward.
        ``kwargs[name]`` were made ready by :meth:`watch`. ``None`` for a value is zero (the first
        derivative does not depend on it)."""
        raise NotImplementedError

    def vmap(self, fn, kwargs, batched):
        """``fn`` vectorized over the first dimension of the arguments ``batched``, at ``kwargs``."""
        raise NotImplementedError

    def vmap_grad(self, fn, kwargs, batched, names):
        """``{name: per-sample gradients}``: the gradient of the scalar ``fn`` with respect to
        ``names``, vectorized over the first dimension of the arguments ``batched``."""
        raise NotImplementedError

    @property
    def transforms(self):
        """The transform checks this adapter has: those whose method it overrides."""
        return tuple(check for check in ("jvp", "gradgrad", "vmap")
                     if getattr(type(self), check) is not getattr(ArrayAdapter, check))


class TorchAdapter(ArrayAdapter):
    """torch tensors on the case's device; gradients from ``torch.autograd.grad``. The adapter
    of every target that defines no ``ADAPTER`` (``torch.nn.functional`` among them)."""

    name = "torch"
    dtype_names = FLOAT_NAMES
    layouts = ("transposed", "sliced", "expanded", "channels_last")  # conformance/layouts.py

    def __init__(self, device="cpu"):
        self.device = device

    def unavailable(self, device):
        if device == "cpu":
            return None
        try:
            where = torch.device(device)
        except (RuntimeError, TypeError, ValueError):
            return f"{device} is not available (not a torch device)"
        if where.type == "cpu":
            return None
        if where.type != "meta" and _device_present(where):  # meta tensors hold no values to check
            return None
        return f"{device} is not available"

    def on(self, device):
        if device == self.device:
            return self
        placed = copy.copy(self)
        placed.device = device
        return placed

    def asarray(self, value, dtype_name):
        return to_torch(value, dtype_name, self.device)

    def dtype(self, name):
        return TORCH_DTYPES[name]

    def arrange(self, x, layout):
        return to_layout(x, layout)

    def watch(self, x):
        return x.requires_grad_()

    def snapshot(self, x):
        return _Bits(bits(x))  # NaN payloads included

    def to_numpy(self, x):
        return to_numpy(x)

    def is_array(self, x):
        return isinstance(x, torch.Tensor)

    def dtype_name(self, x):
        return torch_dtype_name(x.dtype)

    def result_problems(self, x, dtype_name, what="output"):
        problems = super().result_problems(x, dtype_name, what)
        if isinstance(x, torch.Tensor) and x.device.type != self.device.split(":")[0]:
            prefix = "" if what == "output" else f"{what}: "
            problems.append(f"{prefix}device: got {x.device}, but should be {self.device}")
        return problems

    def _kind(self):
        return "a torch.Tensor"

    def _dtype_text(self, name):
        return f"torch.{name}"

    def gradients(self, fn, args, kwargs, names, grad_output, out):
        if not out.requires_grad:
            raise Failure("output does not require grad: the target detached the graph")
        grads = torch.autograd.grad(out, [kwargs[n] for n in names], grad_output, allow_unused=True)
        return dict(zip(names, grads, strict=True))

    def jvp(self, fn, kwargs, tangents):
        names = list(tangents)
        _, tangent = torch.func.jvp(of_arguments(fn, kwargs, names), tuple(kwargs[n] for n in names),
                                    tuple(tangents[n] for n in names))
        return tangent

    def gradgrad(self, fn, kwargs, names, grad_output, weights):
        grad_output = grad_output.detach().requires_grad_()
        out = fn(**kwargs)
        if not out.requires_grad:
            raise Failure("output does not require grad: the target detached the graph")
        inputs = [kwargs[n] for n in names]
        grads = torch.autograd.grad(out, inputs, grad_output, create_graph=True, allow_unused=True)
        # A first derivative without a graph does not depend on anything: its derivative is zero
        # (torch's piecewise-linear losses return such gradients).
        terms = [(weights[n] * g).sum() for n, g in zip(names, grads, strict=True)
                 if g is not None and g.requires_grad]
        if not terms:
            return dict.fromkeys(names), None
        second = torch.autograd.grad(sum(terms), inputs + [grad_output], allow_unused=True)
        return dict(zip(names, second[:-1], strict=True)), second[-1]

    def vmap(self, fn, kwargs, batched):
        return torch.func.vmap(of_arguments(fn, kwargs, batched))(*(kwargs[n] for n in batched))

    def vmap_grad(self, fn, kwargs, batched, names):
        order = list(batched) + [n for n in names if n not in batched]
        argnums = tuple(order.index(n) for n in names)
        in_dims = tuple(0 if n in batched else None for n in order)
        grads = torch.func.vmap(torch.func.grad(of_arguments(fn, kwargs, order), argnums=argnums),
                                in_dims=in_dims)(*(kwargs[n] for n in order))
        return dict(zip(names, grads, strict=True))


def of_arguments(fn, kwargs, names):
    """``fn`` as a function of the arguments ``names``, positionally, the others fixed at ``kwargs``:
    the form functional transforms (torch.func, jax) take."""
    def bound(*values):
        return fn(**{**kwargs, **dict(zip(names, values, strict=True))})

    return bound


class _Bits:
    """A tensor's exact bits, equal to another's when ``torch.equal`` says so (on its device)."""

    def __init__(self, tensor):
        self.tensor = tensor

    def __eq__(self, other):
        return isinstance(other, _Bits) and self.tensor.shape == other.tensor.shape and \
            self.tensor.dtype == other.tensor.dtype and torch.equal(self.tensor, other.tensor)

    __hash__ = None


def _device_present(where):
    """Whether torch can run on the device ``where`` (a ``torch.device`` of an accelerator)."""
    backend = getattr(torch, where.type, None)  # torch.cuda, torch.xpu, torch.mps, a privateuse1 module
    is_available = getattr(backend, "is_available", None)
    count = getattr(backend, "device_count", None)
    if is_available is None and hasattr(torch, "accelerator"):  # torch >= 2.6
        current = torch.accelerator.current_accelerator()
        if current is None or current.type != where.type:
            return False
        is_available, count = torch.accelerator.is_available, torch.accelerator.device_count
    try:
        return bool(is_available()) and (where.index is None or count is None or where.index < count())
    except Exception:  # a backend that cannot even answer is not there
        return False


def _numpy_dtypes():
    dtypes = {"float64": np.float64, "float32": np.float32, "float16": np.float16}
    try:  # bfloat16 as NumPy sees it, when ml_dtypes (a dependency of JAX) is installed
        import ml_dtypes

        dtypes["bfloat16"] = np.dtype(ml_dtypes.bfloat16).type
    except ImportError:
        pass
    return dtypes


class NumpyAdapter(ArrayAdapter):
    """Ports written against NumPy arrays. Gradients come from the target's
    ``<f>_backward`` functions (NumPy has no autodiff)."""

    name = "numpy"

    def __init__(self):
        self.types = _numpy_dtypes()
        self.dtype_names = tuple(self.types)

    def asarray(self, value, dtype_name):
        if dtype_name in self.types:
            return np.array(value, dtype=self.types[dtype_name])  # np.array keeps 0-D shapes
        return np.array(value, dtype=dtype_name)

    def to_numpy(self, x):
        return np.asarray(x).astype(np.float64)

    def is_array(self, x):
        return isinstance(x, np.ndarray | np.generic)

    def dtype_name(self, x):
        for name, t in self.types.items():
            if np.dtype(x.dtype) == np.dtype(t):
                return name
        return np.dtype(x.dtype).name

    def dtype(self, name):
        return self.types[name]

    def snapshot(self, x):
        a = np.asarray(x)
        return a.shape, a.tobytes()


@dataclass
class Signature:
    """How one of the port's functions differs from torch's: an entry of ``ARGUMENTS``,
    ``{torch function name: Signature(...)}``, for array and torch targets alike.

    The suite passes every torch argument explicitly (so differing defaults need no entry),
    by torch's names, and the entry turns that call into the port's, in this order: ``drop``
    removes options, ``convert`` changes layouts, ``rename`` renames, ``fixed`` adds
    arguments, ``positional`` orders, the function (or with ``method`` the method) is called,
    and ``output`` maps its result back. Every field is a mapping of names or a small
    function of one array: a formula here would make the suite judge the binding, not the
    framework.

    * ``name``: the port's function (or method) name, when it is not torch's.
    * ``rename``: ``{torch argument name: the port's}``.
    * ``positional``: the port's argument names (after renaming, ``fixed`` ones included)
      passed positionally, in this order; the others go as keywords. Default: the arguments
      torch takes positionally, in torch's order.
    * ``drop``: ``{torch option: the only value the port has}`` for options the port does not
      take. A case that sets such an option to anything else (``label_smoothing=0.1`` for
      ``drop={"label_smoothing": 0.0}``, any ``weight`` for ``drop={"weight": None}``) skips
      with the reason "the port has no 'label_smoothing' ..."; otherwise the option is left out.
    * ``convert``: ``{torch argument name: f(framework array) -> the port's layout}`` (e.g. the
      class axis moved last). It runs inside the differentiated function, so autodiff maps
      the gradients back; a target's ``<f>_backward`` must then return gradients in torch's
      layout.
    * ``output``: ``f(framework array)`` mapping the port's result back to torch's layout.
    * ``fixed``: ``{the port's argument name: value}``, arguments always passed (a framework
      flag, an axis): ``fixed={"from_logits": True}``. A callable value is called with the
      call's arguments by torch name (``{name: value}``, the framework arrays as the port
      gets them before ``convert``, the options, dropped ones included) and its result is
      passed, so the form can depend on the inputs:
      ``fixed={"axis": lambda a: 1 if a["input"].ndim > 1 else 0}``. To pass a function
      itself, wrap it (``lambda a: my_function``). A fixed name that a torch argument
      already maps to is an error of the table (the case fails saying so).
    * ``method``: the port's function is a method of its first positional argument (after
      ``rename``/``positional``): the suite calls ``first.<name>(*rest, **keywords)``, as in
      tinygrad's ``x.sparse_categorical_crossentropy(y)``. The target then provides the
      function whatever the module defines; a framework whose arrays lack the method fails
      its cases with the ``AttributeError``.
    * ``dtypes``: the floating dtypes this function has in the port (``None``: every one the
      adapter accepts). A case in another dtype, or asking another output dtype, skips with
      the reason "the port's <name> has no <dtype> ...".
    * ``no_grad``: torch argument names the port deliberately does not differentiate (a
      target it holds constant): their gradients are neither asked for (nor ``watch``-ed)
      nor checked, and a case whose only differentiable arguments they are skips with the
      reason "the port does not differentiate 'target' (Signature.no_grad)". An argument
      whose gradient is truly zero needs no entry: ``None`` from ``gradients`` is a zero
      gradient, and it is checked.
    """

    name: str | None = None
    rename: dict = field(default_factory=dict)
    positional: tuple | None = None
    drop: dict = field(default_factory=dict)
    convert: dict = field(default_factory=dict)
    output: object = None
    fixed: dict = field(default_factory=dict)
    method: bool = False
    dtypes: tuple | None = None
    no_grad: tuple = ()

    def unsupported(self, torch_arguments):
        """The reason a call (its arguments by torch name) cannot be made through this
        signature, or None."""
        for option, default in self.drop.items():
            if option in torch_arguments and not _same(torch_arguments[option], default):
                return f"the port has no {option!r} (only {option}={default!r}, torch's default, is checked)"
        return None

    def unsupported_dtype(self, function, dtype_name):
        """The reason ``function`` cannot run in ``dtype_name`` in this port, or None."""
        if self.dtypes is not None and dtype_name not in self.dtypes:
            return f"the port's {self.name or function} has no {dtype_name} (only {', '.join(self.dtypes)})"
        return None

    def wrap(self, fn, torch_names, positional):
        """``fn`` behind torch's calling convention: ``wrapped(*torch_args, **torch_kwargs)``,
        with ``torch_names`` the call's argument names in order, the first ``positional`` of
        them torch's positional ones."""

        def wrapped(*args, **kwargs):
            values = dict(zip(torch_names[: len(args)], args, strict=True))
            values.update(kwargs)
            port = {}
            for name, value in values.items():
                if name in self.drop:
                    continue
                if name in self.convert and value is not None:
                    value = self.convert[name](value)
                port[self.rename.get(name, name)] = value
            for name, value in self.fixed.items():
                if name in port:
                    raise ValueError(f"Signature.fixed sets {name!r}, which a torch argument already maps to")
                port[name] = value(values) if callable(value) else value
            order = self.positional
            if order is None:
                order = [self.rename.get(n, n) for n in torch_names[:positional] if n not in self.drop]
            out = fn(*[port.pop(n) for n in order], **port)
            return self.output(out) if self.output is not None else out

        return wrapped


IDENTITY = Signature()


def method_caller(name):
    """``call(first, *rest, **keywords)`` = ``first.<name>(*rest, **keywords)``."""

    def call(first, *args, **kwargs):
        return getattr(first, name)(*args, **kwargs)

    call.__name__ = name
    return call


def _same(a, b):
    if isinstance(a, float) and isinstance(b, float) and a != a and b != b:
        return True  # NaN options
    return a is b or (not isinstance(a, np.ndarray) and not isinstance(b, np.ndarray) and a == b)


def reference_module():
    """The reference as a NumPy array target: each function widens its floating inputs to
    float64, computes there and rounds its result to the inputs' dtype (or to ``dtype=``),
    as a NumPy port computing in float64 would. Its ``<f>_backward`` returns gradients in
    each argument's dtype."""
    import types

    import reference

    module = types.ModuleType("reference_as_numpy_port")
    module.ADAPTER = NumpyAdapter()
    for name in reference.__all__:
        fn = getattr(reference, name)
        if not callable(fn) or name in ("reduce", "reduce_backward"):
            continue
        if name.endswith("_backward"):
            setattr(module, name, _widened_backward(fn))
        else:
            setattr(module, name, _widened(fn, module.ADAPTER))
    return module


def _floating(value):
    return isinstance(value, np.ndarray | np.generic) and np.issubdtype(np.asarray(value).dtype, np.floating)


def _widen(values):
    return [np.asarray(v, dtype=np.float64) if _floating(v) else v for v in values]


def _widened(fn, adapter):
    def port(*args, **kwargs):
        floats = [np.asarray(v).dtype for v in list(args) + list(kwargs.values()) if _floating(v)]
        out = fn(*_widen(args), **dict(zip(kwargs, _widen(kwargs.values()), strict=True)))
        requested = kwargs.get("dtype")
        dtype = requested if requested is not None else (max(floats, key=lambda d: d.itemsize) if floats else None)
        return np.asarray(out).astype(dtype) if dtype is not None else out

    port.__name__ = fn.__name__
    return port


def _widened_backward(fn):
    def port(grad_output, *args, **kwargs):
        names = list(inspect.signature(fn).parameters)[1: 1 + len(args)]
        dtypes = {n: np.asarray(v).dtype for n, v in zip(names, args, strict=False) if _floating(v)}
        dtypes.update({n: np.asarray(v).dtype for n, v in kwargs.items() if _floating(v)})
        grads = fn(np.asarray(grad_output, dtype=np.float64), *_widen(args),
                   **dict(zip(kwargs, _widen(kwargs.values()), strict=True)))
        return {n: np.asarray(g).astype(dtypes.get(n, np.float64)) for n, g in grads.items()}

    port.__name__ = fn.__name__
    return port
