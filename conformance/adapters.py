"""Array targets: running the suite on a port written for another array framework.

A target module that defines a module-level ``ADAPTER`` (an instance of
:class:`ArrayAdapter`) is an *array target*: the suite hands its functions the
framework's arrays instead of torch tensors, and reads the results back through the
adapter. Everything else is the same as for a torch target: the same cases, the same
reference values, the same tolerances, the same forward (value, shape, dtype, inputs left
untouched), backward and error checks, and whatever the target does not provide is
reported as skipped, never as passed.

An adapter says four things about the framework (subclass and override):

* ``asarray(value, dtype_name)``: a NumPy argument as the framework's array. Floating
  arrays arrive as float64 holding values exactly representable in ``dtype_name`` (the
  case dtype); integer and boolean arrays arrive with ``dtype_name`` their own NumPy dtype
  name (``"int64"``, ``"uint8"``, ``"bool"``). ``dtype_names`` lists the floating dtypes
  the framework has: cases in the others skip with a reason.
* ``to_numpy(x)`` and ``dtype_name(x)``: a result as float64 NumPy values, and its dtype's
  name (``"float32"``, ...; ``None`` when the framework cannot say, and then the dtype is not
  checked). ``is_array(x)`` says whether a result is the framework's array at all.
* ``call(fn, args, kwargs)``: how to call one of the port's functions (default: ``fn(*args,
  **kwargs)``). ``dtype(name)``: the framework's dtype object for the option
  ``dtype="float64"`` of ``softmax``/``log_softmax``.
* ``gradients(fn, args, kwargs, names, grad_output)``: the vector-Jacobian product of
  ``fn`` at ``(args, kwargs)`` with ``grad_output`` (a framework array in the output's
  dtype), for the arguments named in ``names``, as ``{name: array}``; ``None`` when the
  framework has no autodiff. The suite passes every argument by name here (``args`` is
  empty), so ``names`` are keys of ``kwargs`` and ``fn`` closes over any signature mapping.
  When the target defines ``<f>_backward(grad_output, *args, **kwargs)`` returning
  ``{name: gradient}`` (the reference's convention) the suite uses that instead, so a
  NumPy port can ship hand-written gradients. With neither, backward cases skip.

Exceptions. torch raises ``ValueError``, ``RuntimeError`` or ``IndexError``; another
framework may raise another class for the same invalid input (JAX and NumPy raise
``ValueError``/``TypeError`` where torch raises ``RuntimeError``). An error case passes when
the target raises the registered class or one of the classes ``accepted_exceptions(expected)``
returns for it (``ArrayAdapter.raises``, default: none besides the registered class, i.e. strict).
A target that raises nothing still fails: a silently accepted invalid input is the bug
these cases catch.

Differences of signature. A port's functions may take other names, another argument
order, the class axis last, or other defaults than torch's. A module-level ``ARGUMENTS``
dict maps a torch function name to a :class:`Signature` that translates torch's call into
the port's; the suite always passes every option explicitly, so differing defaults need
no entry. See :class:`Signature`.

``NumpyAdapter`` is the adapter for NumPy-level ports (bfloat16 through ``ml_dtypes`` when
it is installed); :func:`reference_target` wraps the reference itself as such a port, which
is the suite's self-check (``tests/test_adapters.py``). ``examples/jax_port.py`` is a worked
example for JAX.
"""

import inspect
from dataclasses import dataclass, field

import numpy as np

FLOAT_NAMES = ("float64", "float32", "float16", "bfloat16")


class ArrayAdapter:
    """How the suite speaks to a framework's arrays. Subclass it; see the module docstring."""

    name = "array"
    dtype_names = ("float64", "float32", "float16")  # floating dtypes the framework has
    raises = {}  # registered exception class -> tuple of further classes accepted for it

    def asarray(self, value, dtype_name):
        raise NotImplementedError

    def to_numpy(self, x):
        raise NotImplementedError

    def dtype_name(self, x):
        return None

    def is_array(self, x):
        return True

    def dtype(self, name):
        return name

    def call(self, fn, args, kwargs):
        return fn(*args, **kwargs)

    def gradients(self, fn, args, kwargs, names, grad_output):
        return None

    def accepted_exceptions(self, expected):
        return (expected,) + tuple(self.raises.get(expected, ()))

    def snapshot(self, x):
        """The exact contents of an argument, to detect in-place modification."""
        a = np.asarray(self.to_numpy(x))
        return a.shape, a.tobytes()

    def convert(self, value, dtype_name):
        """Any argument of a call: arrays through :meth:`asarray`, the ``dtype`` option
        through :meth:`dtype`, everything else (options, callables) unchanged."""
        if isinstance(value, np.ndarray):
            if np.issubdtype(value.dtype, np.floating):
                return self.asarray(value, dtype_name)
            return self.asarray(value, value.dtype.name)
        return value


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
    """How one of the port's functions differs from torch's (an entry of ``ARGUMENTS``).

    * ``name``: the port's function name, when it is not torch's.
    * ``rename``: torch argument name -> the port's.
    * ``positional``: the port's argument names (after renaming) passed positionally, in
      this order; the others go as keywords. Default: the arguments torch takes
      positionally, in torch's order.
    * ``drop``: torch options the port does not take. A case that sets such an option to
      anything but ``drop``'s value (torch's default: ``{"label_smoothing": 0.0}``) skips
      with the reason "the port has no ...".
    * ``convert``: torch argument name -> ``f(framework_array)`` giving the port's layout
      (e.g. the class axis moved last). It runs inside the differentiated function, so the
      framework's autodiff maps the gradients back; a target's ``<f>_backward`` must then
      return gradients in torch's layout.
    * ``output``: ``f(framework_array)`` mapping the port's result back to torch's layout.
    """

    name: str | None = None
    rename: dict = field(default_factory=dict)
    positional: tuple | None = None
    drop: dict = field(default_factory=dict)
    convert: dict = field(default_factory=dict)
    output: object = None

    def unsupported(self, torch_kwargs):
        """The reason a call cannot be made through this signature, or None."""
        for option, default in self.drop.items():
            if option in torch_kwargs and not _same(torch_kwargs[option], default):
                return f"the port has no {option!r} (only {option}={default!r}, torch's default, is checked)"
        return None

    def wrap(self, fn, torch_names, positional):
        """``fn`` behind torch's calling convention: ``wrapped(*torch_args, **torch_kwargs)``."""

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
            order = self.positional
            if order is None:
                order = [self.rename.get(n, n) for n in torch_names[:positional] if n not in self.drop]
            out = fn(*[port.pop(n) for n in order], **port)
            return self.output(out) if self.output is not None else out

        return wrapped


IDENTITY = Signature()


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
