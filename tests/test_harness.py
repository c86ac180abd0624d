"""Tests of the testers: case generation, the comparator, dtype rounding and target handling."""

import os
import subprocess
import sys
import types
import zlib

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from conformance import compare as cmp
from conformance.adapters import TorchAdapter, reference_module
from conformance.cases import Case, all_cases, find, generate
from conformance.dtypes import FLOAT_DTYPES, FORMATS, round_to, ulp
from conformance.harness import ErrorInstance, Outcome, check_backward, check_error, check_forward
from conformance.registry import REGISTRY
from conformance.targets import ArrayTarget, TorchTarget, load_module

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# --- case generation -------------------------------------------------------------------


def test_ids_unique_and_read_like_calls():
    cases = all_cases()
    ids = [c.id for c in cases]
    assert len(ids) == len(set(ids))
    for case in cases:
        assert case.id.startswith(case.function + "(") and case.id.endswith(")")


def test_generation_is_deterministic():
    assert [c.id for c in all_cases()] == [c.id for c in all_cases()]


def test_seed_is_crc32_of_the_id_and_stable_across_processes():
    case = Case("cross_entropy", "float32", (4, 5), (("reduction", "sum"),))
    assert case.id == "cross_entropy(float32, (4, 5), reduction='sum')"
    assert case.seed == zlib.crc32(case.id.encode())
    code = ("from conformance.cases import Case; "
            "print(Case('cross_entropy', 'float32', (4, 5), (('reduction', 'sum'),)).seed)")
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True,
                           env={**os.environ, "PYTHONHASHSEED": "123"})
    assert int(other.stdout) == case.seed


def test_data_is_the_same_on_every_device():
    cpu = Case("nll_loss", "float32", (4, 5))
    cuda = Case("nll_loss", "float32", (4, 5), device="cuda")
    assert cpu.seed == cuda.seed and cuda.id.endswith("device='cuda')")
    a, b = cpu.spec.sample(cpu.rng(), cpu), cuda.spec.sample(cuda.rng(), cuda)
    np.testing.assert_array_equal(a.args["input"], b.args["input"])


def test_find_round_trips_ids():
    for case in generate(REGISTRY["cross_entropy"])[::97]:
        assert find(case.id) == case


@pytest.mark.parametrize("function", sorted(REGISTRY))
def test_grid_covers_defaults_dtypes_values_and_empty_batches(function):
    spec = REGISTRY[function]
    cases = generate(spec)
    assert any(c.options == () and c.values == spec.values[0] for c in cases), "all-defaults case missing"
    assert {c.dtype for c in cases} == set(spec.dtypes)
    assert {c.values for c in cases} == set(spec.values)
    if "reduction" in spec.options and any(0 in shape for shape in spec.shapes):  # ctc: empty is an error
        empty = {c.option("reduction") for c in cases if 0 in c.shape}
        assert empty == set(spec.options["reduction"]), "an empty batch for every reduction"


def test_inputs_are_representable_in_the_case_dtype():
    for case in generate(REGISTRY["cross_entropy"])[::50]:
        for value in case.spec.sample(case.rng(), case).args.values():
            if isinstance(value, np.ndarray) and value.dtype == np.float64:
                np.testing.assert_array_equal(round_to(value, case.dtype), value)


# --- dtype arithmetic --------------------------------------------------------------------


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_round_to_matches_torch_conversion(dtype):
    # torch serves only as an independent implementation of IEEE rounding here.
    x = np.random.default_rng(0).standard_normal(10_000) * 10.0 ** np.random.default_rng(1).integers(-6, 6, 10_000)
    expected = torch.from_numpy(x.astype(np.float32)).to(getattr(torch, dtype)).double().numpy()
    np.testing.assert_array_equal(round_to(x.astype(np.float32).astype(np.float64), dtype), expected)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_ulp_is_the_spacing_of_the_format(dtype):
    x = np.array([1.0, 3.0, 1000.0])
    spacing = ulp(x, dtype)
    assert np.all(round_to(x + spacing, dtype) == x + spacing)
    assert np.all(round_to(x + spacing * 0.49, dtype) == x)
    assert ulp(np.array([0.0]), dtype)[0] == 2.0 ** (FORMATS[dtype].emin - FORMATS[dtype].precision + 1)


# --- the comparator ----------------------------------------------------------------------


def _allowed(expected, dtype, growth=1.0):
    rtol, atol = cmp.grown(cmp.TOLERANCES[dtype], dtype, growth)
    scale = np.max(np.abs(expected))
    return rtol * np.abs(expected) + atol * scale + FORMATS[dtype].tiny


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_comparator_fails_one_step_over_budget_and_passes_within(dtype):
    expected = np.array([3.0, -7.5, 0.25, 1e3])
    edge = expected + _allowed(expected, dtype)
    inside = expected + 0.999 * _allowed(expected, dtype)
    over = edge.copy()
    over[2] = np.nextafter(np.nextafter(edge[2], np.inf), np.inf)
    assert cmp.compare(inside, expected, dtype).ok
    result = cmp.compare(over, expected, dtype)
    assert not result.ok and result.index == (2,)
    assert "but should be 0.25 at index (2,)" in result.message and "ulp of " + dtype in result.message


def test_budget_grows_with_reduction_size():
    expected = np.array(10.0)
    actual = expected + 2 * _allowed(expected, "float32")
    assert not cmp.compare(actual, expected, "float32").ok
    assert cmp.compare(actual, expected, "float32", growth=cmp.budget_growth(1024)).ok


def test_nonfinite_values_must_match_exactly():
    expected = np.array([np.nan, np.inf, -np.inf, 1.0])
    assert cmp.compare(expected.copy(), expected, "float64").ok
    for i, wrong in enumerate([0.0, -np.inf, np.nan, np.inf]):
        actual = expected.copy()
        actual[i] = wrong
        assert not cmp.compare(actual, expected, "float64").ok


def test_overflow_rule_accepts_nonfinite_only_where_intermediates_may_overflow():
    expected = np.array([3.0, np.inf, 2.0])
    actual = np.array([np.inf, np.nan, 2.0])
    assert not cmp.compare(actual, expected, "float16").ok
    assert cmp.compare(actual, expected, "float16", overflow_ok=True).ok
    assert not cmp.compare(np.array([np.nan, np.nan, 2.5]), expected, "float16", overflow_ok=True).ok


def test_overflow_is_expected_as_inf_and_shapes_must_match():
    assert cmp.compare(np.array([np.inf]), np.array([1e6]), "float16").ok
    assert not cmp.compare(np.array([65504.0]), np.array([1e6]), "float16").ok
    assert not cmp.compare(np.zeros(3), np.zeros((3, 1)), "float64").ok


# --- targets -----------------------------------------------------------------------------


def _target(**functions):
    module = types.ModuleType("fake")
    module.__dict__.update(functions)
    return TorchTarget(module, "fake")


def test_missing_function_is_skipped_not_passed():
    case = generate(REGISTRY["softmax"])[0]
    outcome = check_forward(case, _target())
    assert outcome.status == "skipped" and outcome.message == "not provided by target"


@pytest.mark.parametrize("behaviour, message", [
    (lambda *a, **k: (_ for _ in ()).throw(ZeroDivisionError("boom")), "raised ZeroDivisionError: boom"),
    (lambda *a, **k: 0.5, "returned float, but should return a torch.Tensor"),
    (lambda input, *a, **k: F.softmax(input, -1).double(), "dtype: got torch.float64, but should be torch.float32"),
    (lambda input, *a, **k: F.softmax(input, -1)[:1], "got shape"),
])
def test_misbehaving_target_fails_with_a_clear_message(behaviour, message):
    case = Case("softmax", "float32", (3, 4), (("dim", -1),))
    outcome = check_forward(case, _target(softmax=behaviour))
    assert outcome.status == "failed" and message in outcome.message
    assert "call: F.softmax(torch.tensor(" in outcome.message and case.id in outcome.message


def test_in_place_modification_is_caught():
    def softmax(input, dim=None, _stacklevel=3, dtype=None):
        out = F.softmax(input, dim)
        with torch.no_grad():
            input.mul_(2)
        return out

    outcome = check_forward(Case("softmax", "float64", (3, 4), (("dim", -1),)), _target(softmax=softmax))
    assert outcome.status == "failed" and "modified in place" in outcome.message


def test_detached_output_fails_backward():
    def softmax(input, dim=None, _stacklevel=3, dtype=None):
        return F.softmax(input.detach(), dim)

    outcome = check_backward(Case("softmax", "float64", (3, 4), (("dim", -1),)), _target(softmax=softmax))
    assert outcome.status == "failed" and "does not require grad" in outcome.message


def test_error_case_that_does_not_raise_fails():
    instance = ErrorInstance("cross_entropy", 0)  # reduction='avg'
    outcome = check_error(instance, _target(cross_entropy=lambda *a, **k: torch.tensor(0.0)))
    assert outcome.status == "failed" and "did not raise" in outcome.message


def test_features_newer_than_the_installed_torch_skip_with_a_reason(monkeypatch):
    smoothed = Case("cross_entropy", "float64", (4, 5), (("label_smoothing", 0.1),))
    plain = Case("cross_entropy", "float64", (4, 5))
    assert smoothed.spec.requires(smoothed.options) == ("1.10", "label_smoothing")
    monkeypatch.setattr(torch, "__version__", "1.9.1+cpu")
    target = TorchTarget.load()
    outcome = check_forward(smoothed, target)
    assert outcome.status == "skipped" and "needs torch >= 1.10 (label_smoothing)" in outcome.message
    assert check_forward(plain, target).status == "passed"


@pytest.mark.parametrize("device", ["cuda", "cuda:1", "xpu", "mps", "meta"])
def test_a_device_that_is_not_available_skips_naming_it(device):
    if TorchAdapter().unavailable(device) is None:
        pytest.skip(f"{device} is available here")
    target = TorchTarget.load()
    case = Case("mse_loss", "float32", (4, 5), device=device)
    for check in (check_forward, check_backward):
        assert check(case, target) == Outcome("skipped", f"{device} is not available")
    assert check_error(ErrorInstance("mse_loss", 0, device), target) == Outcome("skipped", f"{device} is not available")


def test_device_availability_asks_the_backend(monkeypatch):
    adapter = TorchAdapter()
    assert adapter.unavailable("cpu") is None and adapter.unavailable("meta") == "meta is not available"
    assert adapter.unavailable("tpu") == "tpu is not available (not a torch device)"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert adapter.unavailable("cuda") is None and adapter.unavailable("cuda:0") is None
    assert adapter.unavailable("cuda:1") == "cuda:1 is not available"
    assert adapter.on("cuda:0").device == "cuda:0" and adapter.device == "cpu"


def test_array_targets_run_on_the_cpu_only_unless_their_adapter_says_otherwise():
    target = ArrayTarget(reference_module(), "reference")
    outcome = check_forward(Case("mse_loss", "float32", (4, 5), device="cuda"), target)
    assert outcome == Outcome("skipped", "array targets run where their adapter puts them; --device applies to "
                                         "torch targets")


def test_load_module_from_file_and_name(tmp_path):
    path = tmp_path / "port.py"
    path.write_text("from torch.nn.functional import softmax\n")
    assert TorchTarget(load_module(str(path))).provides("softmax")
    assert not TorchTarget(load_module(str(path))).provides("nll_loss")
    assert load_module("torch.nn.functional") is F


def test_target_option_end_to_end(monkeypatch, capsys):
    """``pytest --target FILE`` runs the cases against the file and reports the planted fault (in
    this process, as ``pytest`` would: the checks run in a worker process)."""
    planted = os.path.join(ROOT, "tests", "ports", "softmax_wrong_dim.py")
    monkeypatch.chdir(ROOT)
    code = pytest.main(["conformance/test_conformance.py", "-q", "-p", "no:cacheprovider", "--target", planted,
                        "-k", "softmax", "--dtype", "float64"])
    out = capsys.readouterr().out
    assert code == pytest.ExitCode.TESTS_FAILED, out[-2000:]
    assert "failed" in out and "skipped" in out  # log_softmax: not provided
    assert "rerun: pytest" in out


def test_a_wrong_output_shape_fails_the_backward_check_naming_the_shape():
    """A port whose output has the wrong shape gets no grad_output of its own shape: the backward
    check fails on the shape (the target's fault), never as an error of the suite."""
    import torch.nn.functional as F

    from conformance.cases import find
    from conformance.checks import run_check
    from tests.planted import faulty_target

    target = faulty_target(mse_loss=lambda input, target, **kw: F.mse_loss(input, target, **kw).reshape(1))
    case = find("mse_loss(float64, (4, 5))")
    for check in ("backward", "forward"):
        outcome = run_check(check, case, target)
        assert outcome.status == "failed", outcome.message
        assert "got shape (1,), but should be ()" in outcome.message


@pytest.mark.parametrize("shape", [(0, 5), (2, 0), (0,)])
def test_reproducer_literals_keep_the_shape_of_empty_arrays(shape):
    from conformance.reproducers import literal

    for dtype, module in (("float32", torch), ("int64", torch)):
        value = np.zeros(shape, dtype=np.float64 if dtype == "float32" else np.int64)
        rebuilt = eval(literal(value, "float32"), {"torch": torch})
        assert tuple(rebuilt.shape) == shape and rebuilt.dtype == getattr(module, dtype)
        rebuilt = eval(literal(value, "float32", numpy=True), {"np": np})
        assert rebuilt.shape == shape and rebuilt.dtype == np.dtype(dtype)
