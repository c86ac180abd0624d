"""Framework bindings (conformance/bindings/): each installed framework passes a few cases of a
mapped function through the suite's own checks, and a fault planted in its argument mapping
(the class axis not moved, mean and sum swapped) is caught. A framework that is not installed
skips with the reason. The shared table machinery (skips, the one reduction, the docs' tables,
the discovery of the bindings, each shipped table's completeness) is checked without any framework."""

import ast
import dataclasses
import importlib
import importlib.util
import os
import types

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

import numpy as np
import pytest

from conformance.adapters import NumpyAdapter
from conformance.bindings import bindings, declared, render
from conformance.bindings._shared import PLAIN, Unmapped, bind, padded_targets, reduce, table
from conformance.cases import find
from conformance.checks import run_check
from conformance.registry import REGISTRY
from conformance.targets import ArrayTarget, load

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOC = os.path.join(ROOT, "docs", "compat", "bindings.md")
SHIPPED = {b.name: b for b in bindings()}  # found as the registry finds specs, installed or not
FRAMEWORKS = list(SHIPPED)

# Cases on which the framework agrees with torch, forward and backward.
AGREES = {
    "optax": ["cross_entropy(float64, (4, 5))", "cross_entropy(float64, (3, 4, 5), reduction='sum', target=<probs>)",
              "mse_loss(float32, (4, 5))"],
    "keras": ["cross_entropy(float64, (4, 5))", "cross_entropy(float64, (3, 4, 5), reduction='sum', target=<probs>)",
              "mse_loss(float32, (4, 5))"],
    "tinygrad": ["nll_loss(float32, (4, 5), reduction='sum')", "nll_loss(float32, (3, 4, 5), reduction='sum')"],
    "mlx": ["mse_loss(float32, (4, 5), reduction='sum')", "mse_loss(float32, (2, 3, 4), reduction='sum')"],
}


def _swap_mean_sum(reduction):
    return {"mean": "sum", "sum": "mean"}.get(reduction, reduction)


def _classes_not_moved(x):
    return x


def _last_axis(values):
    return -1


# A fault in the argument mapping, the function it is planted in, and a case it must fail.
PLANTED = {
    "optax": ("cross_entropy", {"convert": {"input": _classes_not_moved, "target": _classes_not_moved}},
              "cross_entropy(float64, (3, 4, 5), reduction='sum', target=<probs>)", "forward"),
    "keras": ("cross_entropy", {"convert": {"input": _classes_not_moved, "target": _classes_not_moved}},
              "cross_entropy(float64, (3, 4, 5), reduction='sum', target=<probs>)", "forward"),
    "tinygrad": ("nll_loss", {"convert": {"reduction": _swap_mean_sum}}, "nll_loss(float32, (4, 5))", "forward"),
    "mlx": ("cross_entropy", {"fixed": {"axis": _last_axis}}, "cross_entropy(float32, (3, 4, 5), target=<probs>)",
            "forward"),
}


def _binding(framework):
    # find_spec, not importorskip: keras must first be imported by the binding, which picks its backend
    if SHIPPED[framework].missing():
        pytest.skip(f"{framework} is not installed (pip install 'torch-loss-conformance[{framework}]')")
    return importlib.import_module(f"conformance.bindings.{framework}")


def _planted(module, function, changes):
    """The binding with one row's argument mapping changed: a copy of ARGUMENTS, the rest shared."""
    copy = types.ModuleType(module.__name__ + "_planted")
    copy.__dict__.update({k: v for k, v in vars(module).items() if not k.startswith("__")})
    copy.ARGUMENTS = {**module.ARGUMENTS, function: dataclasses.replace(module.ARGUMENTS[function], **changes)}
    return ArrayTarget(copy, f"planted {module.__name__}")


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_binding_passes_where_the_framework_agrees(framework):
    _binding(framework)
    target = load(f"conformance.bindings.{framework}")
    for case_id in AGREES[framework]:
        for check in ("forward", "backward"):
            outcome = run_check(check, find(case_id), target)
            assert outcome.status == "passed", f"{check} {case_id}: {outcome.status} {outcome.message}"


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_a_fault_planted_in_the_mapping_is_caught(framework):
    module = _binding(framework)
    function, changes, case_id, check = PLANTED[framework]
    case = find(case_id)
    assert run_check(check, case, load(f"conformance.bindings.{framework}")).status == "passed"
    outcome = run_check(check, case, _planted(module, function, changes))
    assert outcome.status == "failed", outcome.message
    assert "got" in outcome.message or "raised" in outcome.message


def test_tinygrad_skips_a_dtype_its_device_cannot_compile(monkeypatch):
    """tinygrad's CPU device compiles each kernel with the host's clang, and clang 14 has no bfloat16
    for tinygrad's target: such a dtype's cases skip, naming why, instead of erroring as the suite's
    own defect when their inputs are made. The probe agrees with a real cast; the skip is planted."""
    module = _binding("tinygrad")
    assert module.uncompilable("float32") is None
    try:
        module.Tensor(np.array([1.0], dtype=np.float32)).cast(module.dtypes.bfloat16).realize()
        assert module.uncompilable("bfloat16") is None
    except Exception:
        assert "cannot compile a bfloat16 kernel" in module.uncompilable("bfloat16")
    monkeypatch.setattr(module, "uncompilable", lambda name: "planted: no kernel" if name == "float32" else None)
    outcome = run_check("forward", find(AGREES["tinygrad"][0]), load("conformance.bindings.tinygrad"))
    assert outcome.status == "skipped" and "planted: no kernel" in outcome.message, outcome.message


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_mapping_lists_every_registry_function(framework):
    module = _binding(framework)
    assert list(module.MAPPING) == list(REGISTRY) or set(module.MAPPING) == set(REGISTRY)
    for name, row in module.MAPPING.items():
        if isinstance(row, Unmapped):
            assert row.reason and not hasattr(module, name)
        else:
            assert callable(getattr(module, name)) and module.ARGUMENTS[name] is row
            for path in row.functions().values():
                assert path.split(".")[0] in (framework, "jax", "mlx", "tinygrad", "keras", "optax")


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_docs_render_the_table(framework):
    module = _binding(framework)
    with open(DOC, encoding="utf-8") as f:
        doc = f.read()
    table_text = f"<!-- table {framework} -->\n{render(module)}\n<!-- end table {framework} -->"
    assert table_text in doc, f"docs/compat/bindings.md is stale: run python -m conformance.bindings {framework}"


def test_what_the_framework_lacks_skips_as_not_provided():
    row = bind("builtins.max", drop={"weight": None, "ignore_index": -100}, only={"p": (1,)}, reduced=True)
    assert row.unsupported({"weight": None, "ignore_index": -100, "p": 1, "reduction": "sum"}) is None
    for arguments, words in [({"weight": np.ones(3)}, "has no 'weight' argument"),
                             ({"p": 2}, "has no p=2; only p=1 is checked"),
                             ({"reduction": "batchmean"}, "returns per-element losses"),
                             ({"target": np.array([1, -100])}, "holds ignore_index=-100 entries")]:
        reason = row.unsupported(arguments)
        assert reason.startswith("not provided by target: builtins.max") and words in reason, reason
    assert row.unsupported({"target": np.array([[0.5, 0.5]])}) is None  # probabilities hold no index


def test_the_one_reduction_is_the_plain_sum_or_mean():
    losses = np.array([1.0, 2.0, 6.0])
    assert [float(np.sum(reduce(losses, r))) for r in PLAIN] == [9.0, 3.0, 9.0]
    with np.errstate(invalid="ignore"), pytest.warns(RuntimeWarning, match="empty"):
        assert np.isnan(reduce(np.zeros((0, 3)), "mean"))  # torch's mean of nothing


def _numpy_binding(mapping):
    """A binding module of NumPy functions, made as the shipped ones are (``table(MAPPING)``)."""
    module = types.ModuleType("numpy_binding")
    module.ADAPTER, module.MAPPING = NumpyAdapter(), mapping
    module.ARGUMENTS, functions = table(mapping)
    vars(module).update(functions)
    return ArrayTarget(module, "numpy binding")


def test_a_table_may_leave_functions_out_as_not_provided():
    arguments, functions = table({"mse_loss": bind("numpy.subtract", reduced=True), "l1_loss": Unmapped("none")})
    assert list(arguments) == ["mse_loss"] and functions == {"mse_loss": np.subtract}
    target = _numpy_binding({"mse_loss": bind("numpy.subtract", reduced=True)})
    assert not target.provides("l1_loss") and not target.provides("cross_entropy")
    outcome = run_check("forward", find("l1_loss(float32, (4, 5))"), target)
    assert outcome.status == "skipped" and outcome.message == "not provided by target"
    assert "| `l1_loss` | none | | | not listed in the binding |" in render(target.module)


def test_a_table_rejects_a_name_the_registry_lacks():
    with pytest.raises(ValueError, match=r"registry does not have: \['mse_los'\]"):
        table({"mse_los": bind("numpy.subtract", reduced=True)})


def test_a_fixed_argument_that_a_torch_argument_maps_to_is_rejected():
    """Binding.wrap is Signature.wrap: a ``fixed`` argument may not overwrite a mapped one."""
    row = bind("numpy.subtract", rename={"input": "x1", "target": "x2"}, fixed={"x2": 0.0}, reduced=True)
    wrapped = row.wrap(np.subtract, ["input", "target", "reduction"], 2)
    with pytest.raises(ValueError, match="fixed sets 'x2', which a torch argument already maps to"):
        wrapped(np.ones(3), np.full(3, 2.0), reduction="sum")
    outcome = run_check("forward", find("mse_loss(float32, (4, 5))"), _numpy_binding({"mse_loss": row}))
    assert outcome.status == "failed" and "raised ValueError" in outcome.message
    assert "which a torch argument already maps to" in outcome.message
    # what a binding keeps out of the call (a consumed argument, the reduction it applies) may be set by fixed
    kept = bind("numpy.subtract", rename={"target": "y"}, fixed={"input": lambda v: 2 * v["input"]},
                consumed=("input",), reduced=True)
    wrapped = kept.wrap(lambda y, input: input - y, ["input", "target", "reduction"], 2)
    assert wrapped(np.ones(3), np.full(3, 0.5), reduction="sum") == 4.5


def _mapping_keys(framework):
    """The keys of a binding's ``MAPPING = {...}``, read from its source (its framework need not be installed)."""
    tree = ast.parse(SHIPPED[framework].source())
    for node in tree.body:
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["MAPPING"]:
            assert isinstance(node.value, ast.Dict), f"{framework}: MAPPING is a dict display"
            assert all(isinstance(k, ast.Constant) for k in node.value.keys), f"{framework}: MAPPING's keys are strings"
            return [k.value for k in node.value.keys]
    raise AssertionError(f"{framework} defines no MAPPING = {{...}}")


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_shipped_binding_lists_every_registry_function_once(framework):
    """table() takes a MAPPING that leaves a function out (not provided); a shipped one lists them all,
    each once (a repeated key of a dict display would silently replace the first row)."""
    keys = _mapping_keys(framework)
    assert len(keys) == len(set(keys)), f"{framework}: repeated {sorted(k for k in keys if keys.count(k) > 1)}"
    assert set(keys) == set(REGISTRY), f"{framework}: missing {sorted(set(REGISTRY) - set(keys))}, " \
                                       f"unknown {sorted(set(keys) - set(REGISTRY))}"


def test_bindings_are_found_with_their_own_requirements():
    assert FRAMEWORKS == ["keras", "mlx", "optax", "tinygrad"]  # every public module of the package, by name
    assert SHIPPED["optax"].requires == ("optax", "jax") and SHIPPED["keras"].requires == ("keras", "jax")
    assert SHIPPED["mlx"].requires == ("mlx",) and SHIPPED["tinygrad"].module == "conformance.bindings.tinygrad"
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        extras = tomllib.load(f)["project"]["optional-dependencies"]
    for binding in SHIPPED.values():
        assert binding.summary and binding.name in extras  # pip install "torch-loss-conformance[<name>]"
        assert {r.split("[")[0].split(">")[0] for r in extras[binding.name]} >= set(binding.requires)


@pytest.mark.parametrize("source, words", [
    ('SUMMARY = "x"\n', "must declare REQUIRES"),
    ('REQUIRES = ("x",)\n', "must declare SUMMARY"),
    ('REQUIRES = "x"\nSUMMARY = "x"\n', "must declare REQUIRES"),
    ('REQUIRES = (name,)\nSUMMARY = "x"\n', "REQUIRES must be a literal"),
])
def test_a_binding_declares_its_requirements(source, words):
    assert declared('REQUIRES = ("x", "y")\nSUMMARY = "s"\n') == {"REQUIRES": ("x", "y"), "SUMMARY": "s"}
    with pytest.raises(ValueError, match=words):
        declared(source)


def test_ctc_targets_become_padded():
    padded, lengths = padded_targets(np, np.array([1, 2, 3, 4, 5]), np.array([3, 2]))
    assert padded.tolist() == [[1, 2, 3], [4, 5, 0]] and lengths.tolist() == [3, 2]
    assert padded_targets(np, np.array([1, 2]), np.array(2))[0].tolist() == [[1, 2]]  # unbatched
    assert padded_targets(np, np.array([[1, 2], [3, 0]]), (2, 1))[0].tolist() == [[1, 2], [3, 0]]
