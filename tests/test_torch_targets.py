"""torch's own backends as targets (conformance/torch_targets): torch.compile passes a few cases,
a Dynamo fallback to eager fails the case instead of passing it, torch._refs runs and its failures
keep their documented causes. Each compilation costs seconds on a CPU: a few cases only."""

import os
import types
import warnings

import pytest
import torch

from conformance import divergences
from conformance.cases import find
from conformance.checks import run_check
from conformance.targets import TorchTarget, load
from conformance.torch_targets import DIVERGENCES, CompiledFunction, refs_failures
from conformance.torch_targets.refs_failures import CAUSES

COMPILED_CASES = ["mse_loss(float32, (4, 5))", "mse_loss(float32, (5,), reduction='sum')",
                  "cross_entropy(float32, (4, 5))", "cross_entropy(float32, (4, 5), ignore_index=-1)"]


@pytest.fixture(scope="module")
def compiled():
    return load("conformance.torch_targets.compiled")


def _planted(**settings):
    """A target whose mse_loss is compiled with Dynamo's recompile limit lowered to 1."""
    torch._dynamo.reset()  # the cache of F.mse_loss's code object is shared by every torch.compile of it
    module = types.ModuleType("planted_recompile_limit")
    module.mse_loss = CompiledFunction("mse_loss", dynamic=False, recompile_limit=1, **settings)
    return TorchTarget(module, "planted_recompile_limit")


@pytest.mark.slow
@pytest.mark.parametrize("case_id", COMPILED_CASES)
@pytest.mark.parametrize("check", ["forward", "backward"])
def test_compiled_passes(compiled, check, case_id):
    outcome = run_check(check, find(case_id), compiled)
    assert outcome.status == "passed", outcome.message


@pytest.mark.parametrize("check", ["jvp", "gradgrad", "vmap"])
def test_compile_still_lacks_each_transform_it_is_declared_to_lack(compiled, check):
    """The compiled targets declare every transform unsupported (torch_targets/__init__.py): the
    check skips with the reason, and the same compiled function without the declaration fails it
    (an eager fallback or a RuntimeError), so that torch.compile gaining the transform shows up."""
    case = find("mse_loss(float32, (4, 5))")
    declared = run_check(check, case, compiled)
    assert declared.status == "skipped" and "declared unsupported: torch.compile" in declared.message
    module = types.ModuleType("undeclared_compiled")
    module.mse_loss = CompiledFunction("mse_loss", dynamic=False)
    try:
        outcome = run_check(check, case, TorchTarget(module, "undeclared-compiled"))
    finally:
        torch._dynamo.reset()  # a frame Dynamo gave up on under the transform stays skipped for the other tests
    assert outcome.status == "failed", outcome.message


@pytest.mark.slow
def test_compiled_dynamic_serves_shapes_with_one_graph():
    from torch._dynamo.utils import counters

    target = load("conformance.torch_targets.compiled_dynamic")
    outcome = run_check("forward", find("mse_loss(float32, (4, 5), reduction='sum')"), target)
    assert outcome.status == "passed", outcome.message
    fn, graphs = target.function("l1_loss"), counters["stats"]["unique_graphs"]
    for shape in ((4, 5), (6, 7), (3, 9)):
        x = torch.randn(shape)
        torch.testing.assert_close(fn(x, x * 2), torch.nn.functional.l1_loss(x, x * 2))
    assert counters["stats"]["unique_graphs"] - graphs == 1  # symbolic sizes: one graph, not one per shape


def test_compiled_counts_compiled_runs(compiled):
    fn = compiled.function("mse_loss")
    before = fn.runs
    x = torch.randn(3, 2)
    torch.testing.assert_close(fn(x, x + 1), torch.nn.functional.mse_loss(x, x + 1))
    assert fn.runs == before + 1


def test_compiled_provides_what_torch_has(compiled):
    for name in ("mse_loss", "cross_entropy", "multilabel_margin_loss", "ctc_loss", "softmax"):
        assert compiled.provides(name) and isinstance(compiled.function(name), CompiledFunction)


def test_recompile_limit_fallback_fails_the_case():
    """Dynamo's own guard off: after one graph it runs F.mse_loss eagerly, which would pass."""
    target = _planted(fail_on_recompile_limit_hit=False)
    assert run_check("forward", find("mse_loss(float32, (4, 5))"), target).status == "passed"
    outcome = run_check("forward", find("mse_loss(float32, (5,))"), target)  # a new shape: a recompile
    assert outcome.status == "failed"
    assert "raised EagerFallback" in outcome.message and "recompile limit" in outcome.message
    assert "rerun:" in outcome.message
    # The same call outside the harness: eager's value, with the fallback reported, never returned.
    with pytest.raises(Exception, match="eagerly") as raised:
        target.function("mse_loss")(torch.ones(3), torch.zeros(3))
    assert type(raised.value).__name__ == "EagerFallback" and not isinstance(raised.value, RuntimeError)


def test_recompile_limit_with_dynamo_guard_fails_the_case():
    target = _planted(fail_on_recompile_limit_hit=True)
    assert run_check("forward", find("mse_loss(float32, (4, 5))"), target).status == "passed"
    outcome = run_check("forward", find("mse_loss(float32, (5,))"), target)
    assert outcome.status == "failed" and "recompile limit" in outcome.message


def test_an_error_of_compiled_code_is_not_a_fallback():
    fn = CompiledFunction("mse_loss")
    with pytest.raises(RuntimeError) as raised:  # broadcasting (3,) against (4,) fails while tracing
        fn(torch.ones(3), torch.ones(4))
    assert type(raised.value).__name__ != "EagerFallback"


def test_a_call_python_refuses_is_not_a_fallback():
    with pytest.raises(TypeError, match="target"):
        CompiledFunction("mse_loss")(torch.ones(3))


def test_torch_derived_targets_inherit_torch_divergences():
    for name in ("compiled", "compiled_dynamic", "refs"):
        module = load(f"conformance.torch_targets.{name}").module
        assert module.INHERITS_TORCH_DIVERGENCES is True
    assert load("conformance.torch_targets.compiled").module.KNOWN_DIVERGENCES == DIVERGENCES


def test_compile_divergence_records(compiled):
    """Valid records today, read only for the compiled targets (not from known_divergences/)."""
    records = divergences.load(DIVERGENCES)
    assert {r.function for r in records} == {"multilabel_margin_loss", "mse_loss", "cross_entropy", "ctc_loss",
                                             "gaussian_nll_loss", "l1_loss", "multi_margin_loss", "smooth_l1_loss",
                                             "huber_loss", "nll_loss", "binary_cross_entropy", "hinge_embedding_loss",
                                             "margin_ranking_loss", "triplet_margin_with_distance_loss",
                                             "cosine_embedding_loss", "poisson_nll_loss", "soft_margin_loss",
                                             "binary_cross_entropy_with_logits", "kl_div", "triplet_margin_loss",
                                             "multilabel_soft_margin_loss"}
    assert not set(records) & set(divergences.load())
    assert not any(r.applies("forward", "multilabel_margin_loss(float32, (4, 5), target=<full>)") for r in records)
    # pytorch#141017: the entries after a target's -1 count under torch.compile; a failure, and recorded.
    padded = "multilabel_margin_loss(float32, (4, 5))"
    outcome = run_check("forward", find(padded), compiled)
    assert outcome.status == "failed" and "but should be" in outcome.message
    assert any(r.applies("forward", padded) and "141017" in r.link for r in records)
    # Found by the full grid: the compiled l1_loss drops its weight; a failure, and recorded.
    weighted = "l1_loss(float32, (4, 5), weight=<positive>)"
    outcome = run_check("forward", find(weighted), compiled)
    assert outcome.status == "failed" and "but should be" in outcome.message, outcome.message
    assert any(r.applies("forward", weighted) and "ignores its weight" in r.reason for r in records)


def test_refs_target_runs():
    refs = load("conformance.torch_targets.refs")
    assert not refs.provides("cross_entropy")  # not in torch._refs.nn.functional
    for check, case_id in [("forward", "mse_loss(float32, (4, 5))"), ("backward", "nll_loss(float64, (4, 5))"),
                           ("forward", "softmax(float32, (3, 4), dim=1)")]:
        outcome = run_check(check, find(case_id), refs)
        assert outcome.status == "passed", outcome.message
    implicit = run_check("forward", find("softmax(float32, (3, 4))"), refs)  # dim=None: a genuine difference
    assert implicit.status == "failed" and "implicit dim not supported" in implicit.message
    weighted = run_check("forward", find("mse_loss(float32, (4, 5), weight=<positive>)"), refs)
    assert weighted.status == "skipped" and "'weight'" in weighted.message  # ARGUMENTS drops it


def test_refs_drops_weight():
    refs = load("conformance.torch_targets.refs")
    signature = refs.module.ARGUMENTS["mse_loss"]
    assert signature.unsupported({"weight": None}) is None
    assert "weight" in signature.unsupported({"weight": torch.ones(3).numpy()})


@pytest.mark.parametrize("cause", [c for c in CAUSES if c.kind == "genuine"], ids=lambda c: c.key)
def test_refs_difference_still_reproduces(cause):
    """docs/compat/refs.md's reproducers: a fix in torch._refs fails here (update the doc)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # eager's implicit softmax dim warns
        assert cause.run_reproducer()


def test_refs_causes_are_distinct():
    failure = {"id": "nll_loss(float32, (0, 3), target=<uint8>)", "check": "forward", "message": "raised ..."}
    explaining = [c.key for c in CAUSES if c.explains(failure)]
    assert explaining[0] == "nll-empty"  # the first cause wins: the empty batch returns before the indexing


def test_refs_causes_are_records_of_the_toml_file():
    """The causes are data (refs_failures.toml), read in the file's order: the first that explains wins."""
    assert os.path.dirname(refs_failures.FILE) == os.path.dirname(refs_failures.__file__)
    assert refs_failures.load() == CAUSES
    assert [c.key for c in CAUSES][:3] == ["inherited-xpass", "weight", "implicit-dim"]
    for cause in CAUSES:
        assert cause.summary and set(cause.checks) <= set(refs_failures.CHECKS)
        assert bool(cause.reproducer) == (cause.kind == "genuine") and bool(cause.fix) == (cause.kind == "suite")
    # the patterns keep their backslashes: \( is a parenthesis, \n a line break of "<case id>\n<message>"
    xpass = {"id": "nll_loss(float32, (4, 3))", "check": "forward", "message": "[XPASS(strict)] known"}
    assert [c.key for c in CAUSES if c.explains(xpass)] == ["inherited-xpass"]


GOOD_CAUSE = """[[cause]]
key = "k"
kind = "suite"
functions = ["mse_loss"]
checks = ["forward"]
pattern = 'weight'
summary = "why"
fix = "how"
"""


@pytest.mark.parametrize("record, words", [
    (GOOD_CAUSE + 'link = "x"\n', "unknown ['link']"),
    (GOOD_CAUSE.replace('summary = "why"\n', ""), "missing ['summary']"),
    (GOOD_CAUSE.replace('fix = "how"\n', ""), "'suite', with a fix"),
    (GOOD_CAUSE.replace('kind = "suite"', 'kind = "genuine"'), "'genuine', with a reproducer"),
    (GOOD_CAUSE.replace('["forward"]', '["forwards"]'), "checks are among"),
    (GOOD_CAUSE.replace("'weight'", "'(weight'"), "does not compile"),
    (GOOD_CAUSE + "\n" + GOOD_CAUSE, "'k'] repeated"),
])
def test_a_malformed_refs_cause_is_rejected(tmp_path, record, words):
    path = tmp_path / "causes.toml"
    path.write_text(record)
    with pytest.raises(ValueError, match="causes.toml") as raised:
        refs_failures.load(str(path))
    assert words in str(raised.value)
    path.write_text(GOOD_CAUSE)
    assert [c.key for c in refs_failures.load(str(path))] == ["k"]
