"""Adapters (conformance/adapters.py): the reference itself passes through the NumPy
adapter, a planted fault is caught as in a torch target, what a target lacks is skipped
(never passed), every Signature field and adapter method does what its docstring says (for
array and torch targets alike: one path), a planted fault in a mapping is caught, exception
mapping works, and the JAX example runs."""

import importlib.util
import os
import re
import types

import numpy as np
import pytest

import reference
from conformance import harness
from conformance.adapters import NumpyAdapter, Signature, TorchAdapter, reference_module
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


def test_dtype_one_function_lacks_skips_with_a_reason():
    """float16 exists, but one function of the port has none: by a Signature or by the adapter."""
    float16 = find("mse_loss(float16, (4, 5))")
    softmax16 = next(c for c in generate(REGISTRY["softmax"], dtypes=("float16",)))
    target = _port()
    target.arguments = {"mse_loss": Signature(dtypes=("float64", "float32"))}
    outcome = check_forward(float16, target)
    assert outcome == harness.Outcome("skipped", "the port's mse_loss has no float16 (only float64, float32)")
    assert check_backward(float16, target).status == "skipped"
    assert check_forward(softmax16, target).status == "passed"  # other functions keep float16
    assert check_forward(find("mse_loss(float32, (4, 5))"), target).status == "passed"

    class NoHalfMse(NumpyAdapter):
        def unsupported(self, function, dtype_name):
            if function == "mse_loss" and dtype_name == "float16":
                return "no float16 mse_loss kernel on the CPU"
            return super().unsupported(function, dtype_name)

    target = _port()
    target.adapter = NoHalfMse()
    assert check_forward(float16, target) == harness.Outcome("skipped", "no float16 mse_loss kernel on the CPU")
    assert check_forward(softmax16, target).status == "passed"
    # softmax(dtype=float64) asks for an output dtype: the same rule applies to it
    target.arguments = {"softmax": Signature(dtypes=("float16",))}
    upcast = next(c for c in generate(REGISTRY["softmax"], dtypes=("float16",)) if "dtype=" in c.id)
    assert "has no float64" in check_forward(upcast, target).message


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


# --- the Signature fields and adapter methods a binding uses --------------------------------


def _cross_entropy_port(**expected_flags):
    """A port of cross_entropy that takes framework flags and checks it got the right ones."""
    widened = reference_module()

    def xent(logits, labels, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0, **flags):
        soft = np.issubdtype(labels.dtype, np.floating)
        if flags != {"from_logits": True, "soft_labels": soft}:
            raise TypeError(f"wrong flags {flags} for {'probability' if soft else 'index'} targets")
        return widened.cross_entropy(logits, labels, weight, ignore_index, reduction, label_smoothing)

    module = types.ModuleType("flags")
    module.ADAPTER = NumpyAdapter()
    module.xent = xent
    return module


def test_fixed_arguments_are_passed_and_may_depend_on_the_inputs():
    module = _cross_entropy_port()
    module.ARGUMENTS = {"cross_entropy": Signature(
        name="xent", rename={"input": "logits", "target": "labels"},
        fixed={"from_logits": True, "soft_labels": lambda a: bool(np.issubdtype(a["target"].dtype, np.floating))})}
    target = ArrayTarget(module, "flags")
    cases = generate(REGISTRY["cross_entropy"], dtypes=("float64",))
    probabilities = [c for c in cases if "target=<probs>" in c.id][:5]
    indices = [c for c in cases if "target=" not in c.id][:5]
    assert probabilities and indices
    for case in probabilities + indices:
        assert check_forward(case, target).status == "passed", case.id
    # the same table with a constant where the form depends on the target: caught
    module.ARGUMENTS["cross_entropy"].fixed["soft_labels"] = False
    outcome = check_forward(probabilities[0], ArrayTarget(module, "flags"))
    assert outcome.status == "failed" and "wrong flags" in outcome.message


def test_fixed_argument_that_a_torch_argument_already_maps_to_fails_the_case():
    target = _port()
    target.arguments = {"mse_loss": Signature(fixed={"reduction": "sum"})}
    outcome = check_forward(find("mse_loss(float64, (4, 5))"), target)
    assert outcome.status == "failed" and "Signature.fixed sets 'reduction'" in outcome.message


class _LossArray(np.ndarray):
    """A framework whose losses are methods of its arrays (as tinygrad's)."""

    def squared_error(self, target, reduction="mean", weight=None):
        return reference_module().mse_loss(np.asarray(self), np.asarray(target), reduction, weight)


class _MethodAdapter(NumpyAdapter):
    name = "methods"

    def asarray(self, value, dtype_name):
        return super().asarray(value, dtype_name).view(_LossArray)


def test_method_style_functions_are_called_on_their_first_argument():
    module = types.ModuleType("methods")  # defines no function at all
    module.ADAPTER = _MethodAdapter()
    module.ARGUMENTS = {"mse_loss": Signature(name="squared_error", method=True)}
    target = ArrayTarget(module, "methods")
    assert target.provides("mse_loss") and not target.provides("l1_loss")
    assert not failures(target, "mse_loss", ("forward", "error"))
    module.ARGUMENTS = {"mse_loss": Signature(name="no_such_method", method=True)}
    outcome = check_forward(find("mse_loss(float64, (4, 5))"), ArrayTarget(module, "methods"))
    assert outcome.status == "failed" and "raised AttributeError" in outcome.message


def _mse_backward_without(name, value=None):
    def mse_loss_backward(grad_output, input, target, reduction="mean", weight=None):
        grads = reference.mse_loss_backward(grad_output, input, target, reduction, weight)
        if value == "missing":
            del grads[name]
        else:
            grads[name] = value
        return grads

    return mse_loss_backward


def test_none_is_a_zero_gradient_and_a_missing_one_fails():
    cases = [c for c in generate(REGISTRY["mse_loss"], dtypes=("float64",)) if "weight" not in c.id]
    empty = next(c for c in cases if 0 in c.shape)
    full = find("mse_loss(float64, (4, 5))")
    none = _port(mse_loss_backward=_mse_backward_without("target"))
    assert check_backward(empty, none).status == "passed"  # an empty gradient is zero
    outcome = check_backward(full, none)
    assert outcome.status == "failed" and "grad of target: got 0.0, but should be" in outcome.message
    missing = _port(mse_loss_backward=_mse_backward_without("target", "missing"))
    assert "grad of target: not returned" in check_backward(full, missing).message
    assert "grad of target: not returned" in check_backward(empty, missing).message


def test_none_from_an_adapters_autodiff_is_a_zero_gradient_too():
    class ZeroTargetGradient(NumpyAdapter):
        """An autodiff that differentiates through the reference's backward, dropping target's."""

        def gradients(self, fn, args, kwargs, names, grad_output, out):
            grads = reference.mse_loss_backward(grad_output, kwargs["input"], kwargs["target"],
                                                kwargs.get("reduction", "mean"), kwargs.get("weight"))
            return {n: (None if n == "target" else grads[n]) for n in names}

    module = types.ModuleType("autodiff")
    module.ADAPTER = ZeroTargetGradient()
    module.mse_loss = reference_module().mse_loss
    target = ArrayTarget(module, "autodiff")
    empty = next(c for c in generate(REGISTRY["mse_loss"], dtypes=("float64",)) if 0 in c.shape)
    assert check_backward(empty, target).status == "passed"
    assert "grad of target: got 0.0" in check_backward(find("mse_loss(float64, (4, 5))"), target).message


def test_no_grad_arguments_are_not_asked_for_and_skip_with_a_reason():
    full = find("mse_loss(float64, (4, 5))")
    asked = []

    class Recording(NumpyAdapter):
        def gradients(self, fn, args, kwargs, names, grad_output, out):
            asked.append(names)
            return {n: reference.mse_loss_backward(grad_output, kwargs["input"], kwargs["target"])[n] for n in names}

    module = types.ModuleType("no_grad")
    module.ADAPTER = Recording()
    module.mse_loss = reference_module().mse_loss
    module.ARGUMENTS = {"mse_loss": Signature(no_grad=("target",))}
    assert check_backward(full, ArrayTarget(module, "no_grad")).status == "passed"
    assert asked == [("input",)]
    module.ARGUMENTS = {"mse_loss": Signature(no_grad=("input", "target"))}
    outcome = check_backward(full, ArrayTarget(module, "no_grad"))
    assert outcome == harness.Outcome("skipped",
                                      "the port does not differentiate 'input', 'target' (Signature.no_grad)")
    # a hand-written backward that leaves target out passes only when the table says so
    port = _port(mse_loss_backward=_mse_backward_without("target", "missing"))
    assert check_backward(full, port).status == "failed"
    port.arguments = {"mse_loss": Signature(no_grad=("target",))}
    assert check_backward(full, port).status == "passed"


def test_a_planted_fault_in_an_argument_mapping_is_caught():
    """Swapping two renames is the classic slip of a binding table; the suite must see it."""
    widened = reference_module()

    def ranking(*, x1, x2, y, margin=0.0, reduction="mean"):  # keywords only, as many frameworks' losses
        return widened.margin_ranking_loss(x1, x2, y, margin, reduction)

    module = types.ModuleType("ranking")
    module.ADAPTER = NumpyAdapter()
    module.ranking = ranking
    right = {"input1": "x1", "input2": "x2", "target": "y"}

    def caught(**signature):
        module.ARGUMENTS = {"margin_ranking_loss": Signature(name="ranking", **signature)}
        return failures(ArrayTarget(module, "ranking"), "margin_ranking_loss", ("forward",))

    assert not caught(rename=right, positional=())
    assert caught(rename={**right, "input1": "x2", "input2": "x1"}, positional=())
    module.ranking = lambda x1, x2, y, margin=0.0, reduction="mean": ranking(x1=x1, x2=x2, y=y, margin=margin,
                                                                            reduction=reduction)
    assert not caught(rename=right)
    assert caught(rename=right, positional=("x2", "x1", "y"))  # a wrong order is the same slip


# --- torch targets take the same path -----------------------------------------------------


def test_a_torch_target_may_drop_an_option_it_lacks(tmp_path):
    """torch._refs has no ``weight`` in mse_loss: with ARGUMENTS its weighted cases skip."""
    port = tmp_path / "refs_port.py"
    port.write_text("from torch._refs.nn.functional import mse_loss\n")
    weighted = find("mse_loss(float64, (4, 5), weight=<positive>)")
    plain = find("mse_loss(float64, (4, 5))")
    without = load(str(port))
    assert type(without) is TorchTarget
    assert "raised TypeError" in check_forward(weighted, without).message  # thousands of such failures
    assert check_forward(plain, without).status == "passed"
    port.write_text("from torch._refs.nn.functional import mse_loss\nfrom conformance.adapters import Signature\n"
                    "ARGUMENTS = {'mse_loss': Signature(drop={'weight': None})}\n")
    target = load(str(port))
    assert type(target) is TorchTarget and isinstance(target.adapter, TorchAdapter)
    for check in (check_forward, check_backward):
        assert check(weighted, target) == harness.Outcome(
            "skipped", "the port has no 'weight' (only weight=None, torch's default, is checked)")
        assert check(plain, target).status == "passed"
    failed = failures(target, "mse_loss", ("forward", "backward", "error"))
    assert not failed, failed[:3]


def test_a_torch_target_gets_every_signature_field(tmp_path):
    """The fields are the adapter path's, so they work on torch tensors: a method-style,
    renamed, reordered port with a fixed flag and a per-function dtype list."""
    port = tmp_path / "torch_methods.py"
    port.write_text(
        "import torch\nfrom conformance.adapters import Signature\n"
        "torch.Tensor.conformance_mse = lambda self, target, reduction, scale: "
        "scale * torch.nn.functional.mse_loss(self, target, reduction=reduction)\n"
        "ARGUMENTS = {'mse_loss': Signature(name='conformance_mse', method=True, drop={'weight': None},\n"
        "                                   fixed={'scale': 1.0}, dtypes=('float64',), no_grad=('target',))}\n")
    try:
        target = load(str(port))
        plain = find("mse_loss(float64, (4, 5))")
        assert check_forward(plain, target).status == "passed"
        assert check_backward(plain, target).status == "passed"
        assert "has no float32" in check_forward(find("mse_loss(float32, (4, 5))"), target).message
    finally:
        import torch

        del torch.Tensor.conformance_mse


def test_torch_none_gradient_is_zero_as_for_every_adapter():
    """autograd's ``allow_unused``: a torch target whose output ignores ``target`` gets zeros."""
    import torch.nn.functional as F

    def mse_loss(input, target, reduction="mean", weight=None):
        return F.mse_loss(input, target.detach(), reduction=reduction, weight=weight)

    target = faulty_target(mse_loss=mse_loss)
    outcome = check_backward(find("mse_loss(float64, (4, 5))"), target)
    assert outcome.status == "failed" and "grad of target: got 0.0" in outcome.message
    assert "grad of input" not in outcome.message
    empty = next(c for c in generate(REGISTRY["mse_loss"], dtypes=("float64",)) if 0 in c.shape)
    assert check_backward(empty, target).status == "passed"
