"""Loading the implementation under test.

A target is any module (``pkg.mod``) or Python file (``path/to/port.py``) exposing
functions with ``torch.nn.functional``'s names and signatures over torch tensors; the
default is ``torch.nn.functional`` itself. Functions the target lacks are skipped with
reason "not provided by target".

A module that defines ``ADAPTER`` (a :class:`conformance.adapters.ArrayAdapter`) is an
*array target* instead: its functions take and return another framework's arrays, and
the adapter converts (see ``conformance/adapters.py``). :func:`load` decides which. Every
target is spoken to through an adapter (torch targets through
:class:`conformance.adapters.TorchAdapter`) and may define ``ARGUMENTS``.
"""

import importlib
import importlib.util
import os
import sys

import torch

from .adapters import IDENTITY, TorchAdapter, method_caller
from .divergences import unsupported_transforms
from .options import DEFAULT_TARGET
from .registry import torch_release_at_least


def load_module(spec, base=None):
    """Import ``spec``: a dotted module name, or the path of a ``.py`` file (relative to
    ``base``, default the current directory), which may import the modules beside it."""
    path = os.path.join(base or os.getcwd(), spec)
    if spec.endswith(".py") or os.sep in spec or os.path.exists(path):
        path = os.path.abspath(path)
        if not os.path.exists(path):
            raise FileNotFoundError(f"no such file: {path}")
        if not os.path.isfile(path) or not path.endswith(".py"):
            raise ValueError(f"{path} is not a .py file (give a Python file or an importable module name)")
        name = "conformance_target_" + os.path.splitext(os.path.basename(path))[0]
        module_spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module
        # As when Python runs a script: the file's own directory is importable while it loads, so
        # a port may import the modules kept beside it.
        sys.path.insert(0, os.path.dirname(path))
        try:
            module_spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]
            raise
        finally:
            sys.path.remove(os.path.dirname(path))
        return module
    return importlib.import_module(spec)


class Target:
    """A module under test, addressed by torch function name and spoken to through its
    ``adapter`` (:class:`conformance.adapters.ArrayAdapter`); ``module.ARGUMENTS``
    (optional) maps a torch function name to a :class:`conformance.adapters.Signature` for
    functions whose signature differs from torch's."""

    def __init__(self, module, name=None, adapter=None):
        self._identity = IDENTITY
        self.module = module
        self.name = name or module.__name__
        self.adapter = adapter if adapter is not None else TorchAdapter()
        self.arguments = dict(getattr(module, "ARGUMENTS", {}) or {})

    @classmethod
    def load(cls, spec=DEFAULT_TARGET):
        """The target named by ``spec``: an :class:`ArrayTarget` when the module defines
        ``ADAPTER`` (so ``--target`` accepts array ports through this entry point too)."""
        return load(spec)

    @property
    def is_torch(self):
        """Whether this is ``torch.nn.functional`` itself (torch's release then gates options)."""
        return self.module is torch.nn.functional

    @property
    def inherits_torch_divergences(self):
        """torch.nn.functional, or a torch-derived target (torch.compile, torch._refs, a device, a
        re-export) that declares ``INHERITS_TORCH_DIVERGENCES = True``: torch's known divergences
        are its own, in the grid and in the property search alike."""
        return self.is_torch or bool(getattr(self.module, "INHERITS_TORCH_DIVERGENCES", False))

    def signature(self, function):
        return self.arguments.get(function, self._identity)

    def unsupported_transform(self, function, check):
        """Why this target does not run the transform ``check`` (``jvp``, ``gradgrad``, ``vmap``) of
        ``function``, as declared (its module's ``UNSUPPORTED_TRANSFORMS = {function: {check:
        reason}}``, then torch's record where it inherits torch's divergences), or None."""
        own = (getattr(self.module, "UNSUPPORTED_TRANSFORMS", None) or {}).get(function, {})
        if check in own:
            return own[check]
        if self.inherits_torch_divergences:
            return unsupported_transforms().get(function, {}).get(check)
        return None

    def _name(self, function):
        return self.signature(function).name or function

    def provides(self, function):
        return self.signature(function).method or callable(getattr(self.module, self._name(function), None))

    def function(self, function):
        """The port's callable for ``function`` (before its :class:`Signature` is applied)."""
        if self.signature(function).method:
            return method_caller(self._name(function))
        return getattr(self.module, self._name(function))

    def backward_function(self, function):
        """The target's ``<f>_backward`` (hand-written gradients), or None."""
        fn = getattr(self.module, self._name(function) + "_backward", None)
        return fn if callable(fn) else None

    def unavailable(self, function, device, dtype, required=None):
        """Why this target cannot run ``function`` in ``dtype`` on ``device`` (a skip reason), or None:
        the function, the torch release it needs (``required``, for torch.nn.functional itself), the
        device, the dtype."""
        if not self.provides(function):
            return "not provided by target"
        if required and self.is_torch and not torch_release_at_least(torch.__version__, required[0]):
            return f"needs torch >= {required[0]} ({required[1]}); installed {torch.__version__}"
        return self.adapter.unavailable(device) or (dtype and self.unsupported(function, dtype))

    def port(self, function, call, fn=None):
        """The target's function (or ``fn``) behind torch's calling convention: its Signature
        applied to the arguments of ``call`` (a :class:`conformance.registry.Call`)."""
        signature = self.signature(function)
        fn = fn or self.function(function)
        if signature is IDENTITY:  # torch's convention already: nothing to map
            return fn
        return signature.wrap(fn, list(call.args), call.positional)

    def unsupported(self, function, dtype_name):
        """Why ``function`` cannot run in ``dtype_name`` here (its Signature's ``dtypes``,
        then the adapter's ``unsupported``), or None."""
        return (self.signature(function).unsupported_dtype(function, dtype_name)
                or self.adapter.unsupported(function, dtype_name))


class TorchTarget(Target):
    """A module of functions over torch tensors (:class:`conformance.adapters.TorchAdapter`,
    or the given ``adapter``, a subclass of it)."""


class ArrayTarget(Target):
    """A module of functions over another framework's arrays, spoken to through
    ``module.ADAPTER`` (or the given ``adapter``)."""

    def __init__(self, module, name=None, adapter=None):
        super().__init__(module, name, adapter if adapter is not None else module.ADAPTER)

    @property
    def is_torch(self):
        return False


def load(spec=DEFAULT_TARGET, base=None):
    """The target named by ``spec`` (a module name or a ``.py`` file, relative to ``base``): an
    :class:`ArrayTarget` when the module defines an ``ADAPTER`` that is not a
    :class:`~conformance.adapters.TorchAdapter`, else a :class:`TorchTarget`."""
    module = load_module(spec, base)
    adapter = getattr(module, "ADAPTER", None)
    if adapter is not None and not isinstance(adapter, TorchAdapter):
        return ArrayTarget(module, spec)
    return TorchTarget(module, spec, adapter)
