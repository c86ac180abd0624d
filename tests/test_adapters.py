"""Array targets (conformance/adapters.py): the reference itself passes through the NumPy
adapter, a planted fault is caught as in a torch target, what a target lacks is skipped
(never passed), argument mapping and exception mapping work, and the JAX example runs."""

import importlib.util
import os
import re
import types

import numpy as np
import pytest

import reference
from conformance import harness
from conformance.adapters import NumpyAdapter, Signature, reference_module
from conformance.cases import all_cases, find, generate
from conformance.harness import ErrorInstance, check_backward, check_error, check_forward
from conformance.registry import REGISTRY
from conformance.targets import ArrayTarget, TorchTarget, load
from tests.planted import failures, faulty_target

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
JAX_PORT = os.path.join(ROOT, "examples", "jax_port.py")
REFERENCE = ArrayTarget(reference_module(), "reference")


def _port(**functions):
    """A NumPy array target made of the reference with ``functions`` replaced."""
    module = reference_module()
    for name, fn in functions.items():
        setattr(module, name, fn)
    return ArrayTarget(module, "port:" + ",".join(sorted(functions)))


@pytest.mark.parametrize("function", list(REGISTRY))
def test_reference_passes_through_the_numpy_adapter(function):
    bad = []
    for case in generate(REGISTRY[function], dtypes=("float64", "float32")):
        for check in (check_forward, check_backward):
            outcome = check(case, REFERENCE)
            skipped_ok = outcome.status == "skipped" and outcome.message == "no differentiable argument in this case"
            if outcome.status != "passed" and not skipped_ok:
                bad.append(f"{check.__name__} {case.id}: {outcome.status} {outcome.message}")
    for i in range(len(REGISTRY[function].errors)):
        outcome = check_error(ErrorInstance(function, i), REFERENCE)
        if outcome.status != "passed":
            bad.append(f"error {ErrorInstance(function, i).id}: {outcome.status} {outcome.message}")
    assert not bad, "\n".join(bad[:5])


def test_load_decides_from_adapter(tmp_path):
    array_port = tmp_path / "array_port.py"
    array_port.write_text("from conformance.adapters import NumpyAdapter\nADAPTER = NumpyAdapter()\n"
                          "def mse_loss(input, target, reduction='mean', weight=None):\n    return input\n")
    torch_port = tmp_path / "torch_port.py"
    torch_port.write_text("import torch\ndef mse_loss(input, target, reduction='mean', weight=None):\n"
                          "    return input\n")
    assert isinstance(load(str(array_port)), ArrayTarget)
    assert isinstance(TorchTarget.load(str(array_port)), ArrayTarget)  # the plugin's entry point
    assert type(load(str(torch_port))) is TorchTarget
    assert type(load()) is TorchTarget and load().is_torch


def _wrong_mean_nll_loss(input, target, weight=None, ignore_index=-100, reduction="mean"):
    """Divides by the number of non-ignored targets instead of their total weight."""
    if reduction != "mean":
        return reference.nll_loss(input, target, weight, ignore_index, reduction)
    losses = reference.nll_loss(input, target, weight, ignore_index, "none")
    return np.asarray(np.sum(losses) / np.sum(target != ignore_index), dtype=input.dtype)


def _wrong_mean_nll_loss_torch(input, target, weight=None, ignore_index=-100, reduction="mean"):
    import torch.nn.functional as F

    if reduction != "mean":
        return F.nll_loss(input, target, weight, ignore_index=ignore_index, reduction=reduction)
    losses = F.nll_loss(input, target, weight, ignore_index=ignore_index, reduction="none")
    return losses.sum() / (target != ignore_index).sum()


def test_planted_fault_is_caught_as_in_a_torch_target():
    array_failed = {i for i, _ in failures(_port(nll_loss=_wrong_mean_nll_loss), "nll_loss", ("forward",))}
    torch_failed = {i for i, _ in failures(faulty_target(nll_loss=_wrong_mean_nll_loss_torch), "nll_loss",
                                           ("forward",))}
    # the torch version of the fault also trips over uint8 empty batches: the same cases and more
    assert array_failed and array_failed <= torch_failed
    assert not failures(REFERENCE, "nll_loss", ("forward",))


def test_planted_gradient_fault_is_caught():
    def mse_loss_backward(grad_output, input, target, reduction="mean", weight=None):
        grads = reference.mse_loss_backward(grad_output, input, target, reduction, weight)
        grads["input"] = grads["input"] / 2  # forgot the factor 2 of the square
        return grads

    failed = failures(_port(mse_loss_backward=mse_loss_backward), "mse_loss", ("backward",))
    assert failed and all("grad of input" in message for _, message in failed)


def test_what_the_target_lacks_is_skipped_not_passed():
    module = types.ModuleType("forward_only")
    module.ADAPTER = NumpyAdapter()
    module.mse_loss = reference_module().mse_loss
    target = ArrayTarget(module, "forward_only")
    case = generate(REGISTRY["mse_loss"], dtypes=("float64",))[0]
    assert check_forward(case, target).status == "passed"
    outcome = check_backward(case, target)
    assert outcome.status == "skipped" and "no mse_loss_backward" in outcome.message
    other = generate(REGISTRY["l1_loss"], dtypes=("float64",))[0]
    assert check_forward(other, target).message == "not provided by target"
    assert check_error(ErrorInstance("l1_loss", 0), target).status == "skipped"


def test_dtype_the_framework_lacks_skips_with_a_reason():
    class Float64Only(NumpyAdapter):
        name = "float64-only"

        def __init__(self):
            super().__init__()
            self.dtype_names = ("float64",)

    target = _port()
    target.adapter = Float64Only()
    case = generate(REGISTRY["mse_loss"], dtypes=("float32",))[0]
    outcome = check_forward(case, target)
    assert outcome.status == "skipped" and "has no float32" in outcome.message


@pytest.mark.parametrize("behaviour, message", [
    (lambda input, *a, **k: 1.0, "returned float, but should return an array of the adapter 'numpy'"),
    (lambda input, *a, **k: np.zeros(input.shape, np.float64), "dtype: got float64, but should be float32"),
    (lambda input, *a, **k: 1 / 0, "raised ZeroDivisionError"),
])
def test_misbehaving_array_target_fails_with_a_clear_message(behaviour, message):
    case = find("mse_loss(float32, (4, 5), reduction='none')")
    outcome = check_forward(case, _port(mse_loss=behaviour))
    assert outcome.status == "failed" and message in outcome.message
    assert "through the adapter 'numpy'" in outcome.message and "rerun: pytest" in outcome.message


def test_in_place_modification_is_caught():
    def mse_loss(input, target, reduction="mean", weight=None):
        out = reference_module().mse_loss(input, target, reduction, weight)
        input[...] = 0
        return out

    outcome = check_forward(find("mse_loss(float64, (4, 5))"), _port(mse_loss=mse_loss))
    assert outcome.status == "failed" and "input 'input' was modified in place" in outcome.message


def test_signature_maps_names_order_and_class_axis():
    """A port taking (labels, log_probs) with the class axis last and other names."""
    widened = reference_module()

    def nll(labels, log_probs_last, *, class_weights=None, skip=-100, reduction="mean"):
        log_probs = np.moveaxis(log_probs_last, -1, 1) if log_probs_last.ndim > 1 else log_probs_last
        return widened.nll_loss(log_probs, labels, class_weights, skip, reduction)

    module = types.ModuleType("renamed")
    module.ADAPTER = NumpyAdapter()
    module.nll = nll
    module.ARGUMENTS = {"nll_loss": Signature(
        name="nll", rename={"input": "log_probs_last", "target": "labels", "weight": "class_weights",
                            "ignore_index": "skip"},
        positional=("labels", "log_probs_last"),
        convert={"input": lambda x: np.moveaxis(x, 1, -1) if x.ndim > 1 else x})}
    target = ArrayTarget(module, "renamed")
    assert target.provides("nll_loss")
    assert not failures(target, "nll_loss", ("forward", "error"))


def test_dropped_option_skips_unless_at_default():
    def cross_entropy(input, target, weight=None, ignore_index=-100, reduction="mean"):
        return reference_module().cross_entropy(input, target, weight, ignore_index, reduction)

    target = _port(cross_entropy=cross_entropy)
    target.arguments = {"cross_entropy": Signature(drop={"label_smoothing": 0.0})}
    smoothed = [c for c in generate(REGISTRY["cross_entropy"], dtypes=("float64",))
                if dict(c.options).get("label_smoothing", 0.0) != 0.0][:3]
    plain = [c for c in generate(REGISTRY["cross_entropy"], dtypes=("float64",)) if not c.options][:3]
    assert all("no 'label_smoothing'" in check_forward(c, target).message for c in smoothed)
    assert all(check_forward(c, target).status == "passed" for c in plain)


def test_exception_mapping_is_strict_unless_the_adapter_says_otherwise():
    def binary_cross_entropy(input, target, weight=None, reduction="mean"):
        if np.any((input < 0) | (input > 1)) or np.any(np.isnan(input)):
            raise ValueError("input outside [0, 1]")
        return reference_module().binary_cross_entropy(input, target, weight, reduction)

    index = next(i for i, e in enumerate(REGISTRY["binary_cross_entropy"].errors) if e.label == "input=[0.5, 1.5]")
    instance = ErrorInstance("binary_cross_entropy", index)
    target = _port(binary_cross_entropy=binary_cross_entropy)
    outcome = check_error(instance, target)
    assert outcome.status == "failed" and "but should raise RuntimeError" in outcome.message

    class Lenient(NumpyAdapter):
        raises = {RuntimeError: (ValueError,)}

    target.adapter = Lenient()
    assert check_error(instance, target).status == "passed"


def test_reproducer_rebuilds_the_arguments():
    case = find("cross_entropy(float32, (2, 3, 4, 5))")
    args, kwargs = harness.materialize_arrays(case.id)
    np.testing.assert_array_equal(args[0], case.spec.sample(case.rng(), case).args["input"])


jax_missing = importlib.util.find_spec("jax") is None


@pytest.mark.skipif(jax_missing, reason="jax is not installed (pip install jax jaxlib)")
def test_jax_example_runs_and_the_suite_finds_its_disagreements():
    target = load(JAX_PORT)
    assert target.adapter.name == "jax" and not target.provides("ctc_loss")
    same_shape = [c for c in generate(REGISTRY["mse_loss"], dtypes=("float64", "float32"))
                  if "target_shape" not in c.id and "weight" not in c.id]
    assert all(check_forward(c, target).status == "passed" for c in same_shape[:20])
    assert all(check_backward(c, target).status == "passed" for c in same_shape[:20])
    weighted = next(c for c in generate(REGISTRY["mse_loss"], dtypes=("float64",)) if "weight" in c.id)
    assert "no 'weight'" in check_forward(weighted, target).message
    # what the suite finds (docs/porting.md): torch broadcasts a target of another shape
    broadcast = find("mse_loss(float64, (4, 5), target_shape=(5,), values=extreme)")
    assert check_forward(broadcast, target).status == "failed"
    # jax.nn.softmax rejects a 0-D input, torch returns 1
    assert "out of bounds" in check_forward(find("softmax(float64, ())"), target).message
    # label smoothing with class weights: torch weights the smoothing term per class
    outcome = check_forward(find("cross_entropy(float64, (5,), weight=<positive>, label_smoothing=0.1)"), target)
    assert outcome.status == "failed"
    expected = float(re.search(r"but should be (\S+) at", outcome.message).group(1))
    np.testing.assert_allclose(expected, 1.97185770627, rtol=1e-11)  # the 12 digits written here
    # JAX does not check indices: an out-of-range class index raises nothing
    index = next(i for i, e in enumerate(REGISTRY["nll_loss"].errors) if e.label == "(2, 3), target=[0, 3]")
    assert "did not raise" in check_error(ErrorInstance("nll_loss", index), target).message


def test_all_cases_are_exercised_by_the_self_check():
    assert len(all_cases(dtypes=("float64", "float32"))) > 10000  # the self-check is not vacuous
