"""The transform checks (conformance/transforms.py): each kind's power, by a planted port that is
wrong in that transform alone (tests/ports/planted_*.py) and fails that kind of check and no other;
the oracle's own correctness against an independent one; the rule that an unsupported transform is
declared, never inferred; and torch's declarations, which must stay true."""

import os

import numpy as np
import pytest
import torch

from conformance import transforms
from conformance.cases import find, sample_call, transform_grid
from conformance.checks import run_check
from conformance.divergences import unsupported_transforms
from conformance.harness import differentiated_args, reference_function
from conformance.targets import TorchTarget, load

PORTS = os.path.join(os.path.dirname(__file__), "ports")
KINDS = ("forward", "backward", "jvp", "gradgrad", "vmap")


def _failures(port):
    """``{kind: number of failed checks}`` of the port over mse_loss's transform grid."""
    target = load(os.path.join(PORTS, port))
    failed = dict.fromkeys(KINDS, 0)
    for case in transform_grid(["mse_loss"]):
        for kind in KINDS:
            outcome = run_check(kind, case, target)
            assert outcome.status in ("passed", "failed"), (kind, case.id, outcome.message)
            failed[kind] += outcome.status == "failed"
    return failed


@pytest.mark.parametrize("port, kind", [("planted_jvp.py", "jvp"), ("planted_gradgrad.py", "gradgrad"),
                                        ("planted_vmap.py", "vmap"), ("faithful_transforms.py", None)])
def test_each_planted_port_fails_its_own_kind_of_check_alone(port, kind):
    failed = _failures(port)
    assert {k for k, n in failed.items() if n} == ({kind} if kind else set()), failed
    if kind:  # the cases the port rewrites (no weight, one shape) reach the fault
        assert failed[kind] >= 6, failed


def _value_along(case, call, names, direction, t):
    """The reference's loss at ``call``'s arguments moved by ``t * direction``."""
    moved = dict(call.args)
    moved.update({n: np.asarray(call.args[n] + t * direction[n]) for n in names})
    positional, keywords = type(call)(moved, call.positional).split()
    return reference_function(case.function)(*positional, **keywords)


@pytest.mark.parametrize("case_id", ["cross_entropy(float64, (4, 5), label_smoothing=0.1)",
                                     "softmax(float64, (3, 4), dim=0, dtype='float64')",
                                     "gaussian_nll_loss(float64, (4, 5), reduction='none', var=<last1>, target=<row>)"])
def test_the_jvp_oracle_agrees_with_a_difference_of_the_reference_values(case_id):
    """J v assembled from the reference's backward against a central difference of its forward."""
    case = find(case_id)
    call = sample_call(case)
    names = differentiated_args(case, call, load("torch.nn.functional"))
    shape, rows = transforms._jacobian(case, call, names)
    direction = {n: np.random.default_rng(0).standard_normal(np.shape(call.args[n])) for n in names}
    exact, _ = transforms._product(shape, rows, direction)
    h = 1e-5
    plus, minus = (_value_along(case, call, names, direction, t) for t in (h, -h))
    difference = (plus - minus) / (2 * h)
    np.testing.assert_allclose(exact, difference, rtol=1e-6, atol=1e-8)


def test_an_undeclared_exception_fails_and_a_declared_one_skips(tmp_path):
    port = tmp_path / "no_forward_mode.py"
    port.write_text(
        "import torch\nimport torch.nn.functional as F\n\n"
        "class _NoJvp(torch.autograd.Function):\n"
        "    @staticmethod\n    def forward(x, t):\n        return F.mse_loss(x, t)\n"
        "    @staticmethod\n    def setup_context(ctx, inputs, output):\n        ctx.save_for_backward(*inputs)\n"
        "    @staticmethod\n    def backward(ctx, g):\n        x, t = ctx.saved_tensors\n"
        "        d = g * 2 * (x - t) / x.numel()\n        return d, -d\n\n"
        "def mse_loss(input, target, size_average=None, reduce=None, reduction='mean', weight=None):\n"
        "    return _NoJvp.apply(input, target)\n")
    case = find("mse_loss(float64, (4, 5))")
    undeclared = run_check("jvp", case, load(str(port)))
    assert undeclared.status == "failed" and "UNSUPPORTED_TRANSFORMS" in undeclared.message
    port.write_text(port.read_text() + "\nUNSUPPORTED_TRANSFORMS = {'mse_loss': {'jvp': 'no forward mode yet'}}\n")
    declared = run_check("jvp", case, load(str(port)))
    assert declared.status == "skipped" and "no forward mode yet" in declared.message


class _Undeclared(TorchTarget):
    """torch.nn.functional without its declarations of unsupported transforms."""

    def unsupported_transform(self, function, check):
        return None


@pytest.mark.parametrize("function, check", sorted((f, c) for f, checks in unsupported_transforms().items()
                                                   for c in checks))
def test_torch_still_lacks_each_transform_it_is_declared_to_lack(function, check):
    """A declaration stays true: without it, the check fails on a case it covers (a fix upstream
    shows up here, and the declaration goes)."""
    declared = load("torch.nn.functional")
    assert declared.unsupported_transform(function, check)
    outcomes = [run_check(check, case, _Undeclared(torch.nn.functional)) for case in transform_grid([function])]
    assert any(o.status == "failed" for o in outcomes)


def test_a_zero_tensor_derivative_reads_as_zeros():
    """torch returns the second derivative of a piecewise-linear loss as a ZeroTensor."""
    outcome = run_check("gradgrad", find("l1_loss(float64, (4, 5))"), load("torch.nn.functional"))
    assert outcome.status == "passed", outcome.message


def test_check_selects_the_kinds_and_the_report_counts_each_in_its_column(tmp_path):
    import json

    from tests.cli import conformance

    run = conformance(["--function", "softmax", "--dtype", "float64", "--check", "forward,jvp", "--report-dir",
                       tmp_path], tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    header = next(line for line in run.stdout.splitlines() if line.startswith("function"))
    assert header.split()[3:7] == ["forward", "backward", "errors", "jvp"] and "vmap" not in header
    report = json.loads((tmp_path / "conformance.json").read_text())
    assert report["environment"]["check_kinds"] == ["forward", "jvp"]
    kinds = {kind for cell in report["cells"] for kind, counts in cell["checks"].items() if any(counts.values())}
    assert kinds == {"forward", "jvp"}
    jvp = sum(cell["checks"]["jvp"]["passed"] for cell in report["cells"])
    assert jvp == len(transform_grid(["softmax"], ["float64"]))
    assert "| jvp | " in (tmp_path / "conformance.md").read_text()


class _PositionalOnly:
    """softmax and log_softmax under another name for the input, as ``torch._refs`` has them
    (``a``): torch's calling convention passes the input by position, so a target may name it
    as it likes."""

    @staticmethod
    def softmax(a, dim=None, _stacklevel=3, dtype=None):
        return torch.nn.functional.softmax(a, dim, _stacklevel, dtype)

    @staticmethod
    def log_softmax(a, dim=None, _stacklevel=3, dtype=None):
        return torch.nn.functional.log_softmax(a, dim, _stacklevel, dtype)


@pytest.mark.parametrize("check", transforms.CHECKS)
def test_a_transform_passes_the_positional_arguments_by_position(check):
    """The transforms call the target as the forward check does: an input taken by position under
    another name is not a failure of the target (it was, for every softmax case of torch._refs)."""
    target = TorchTarget(_PositionalOnly, "positional")
    for function in ("softmax", "log_softmax"):
        case = find(f"{function}(float64, (3, 4), dim=0, dtype='float64')")
        outcome = run_check(check, case, target)
        assert outcome.status == "passed", outcome.message
