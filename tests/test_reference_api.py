"""The reference keeps torch's names and signatures, its docstring examples hold, and it
never imports torch."""

import doctest
import importlib
import inspect
import pkgutil
import subprocess
import sys

import pytest
import torch.nn.functional as F

import reference
from conformance.registry import REGISTRY

LEGACY = {"size_average", "reduce", "_stacklevel"}  # deprecated or private: tested on the torch side only


def _params(fn, skip=()):
    return [(p.name, p.default, p.kind) for p in inspect.signature(fn).parameters.values() if p.name not in skip]


@pytest.mark.parametrize("function", sorted(REGISTRY))
def test_signature_matches_torch(function):
    assert _params(getattr(reference, function)) == _params(getattr(F, function), LEGACY)


@pytest.mark.parametrize("function", sorted(REGISTRY))
def test_backward_signature_takes_grad_output_then_the_forward_arguments(function):
    forward = _params(getattr(reference, function))
    backward = _params(getattr(reference, function + "_backward"))
    # Extra keyword-only options may follow (ctc_loss_backward's ``convention``).
    extra = backward[1 + len(forward):]
    assert backward[0][0] == "grad_output" and backward[1:1 + len(forward)] == forward
    assert all(kind == inspect.Parameter.KEYWORD_ONLY for _, _, kind in extra)


MODULES = sorted(m.name for m in pkgutil.iter_modules(reference.__path__))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(f"reference.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0


def test_every_public_function_has_a_docstring_with_an_example():
    for name in reference.__all__:
        obj = getattr(reference, name)
        if callable(obj) and not name.endswith("_backward") and name in REGISTRY:
            assert obj.__doc__ and ">>>" in obj.__doc__, f"{name} needs a docstring example"


def test_reference_never_imports_torch():
    code = "import sys, reference; assert 'torch' not in sys.modules, 'reference imported torch'"
    subprocess.run([sys.executable, "-c", code], check=True)
