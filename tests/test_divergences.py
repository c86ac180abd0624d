"""The known-divergence records: one kind of record for the grid and the property search."""

import dataclasses

import pytest

from conformance import divergences
from conformance.known_divergences import predicates
from conformance.registry import REGISTRY

RECORDS = divergences.records()


def test_every_record_names_a_registered_function_and_its_cases():
    assert {r.kind for r in RECORDS} == {"grid", "property", "accuracy"}
    for record in RECORDS:
        assert record.function in REGISTRY
        assert record.tests and set(record.tests) <= {"forward", "backward", "error", "jvp", "gradgrad", "vmap"}
        if record.kind == "property":
            assert callable(getattr(predicates, record.predicate)) and callable(getattr(predicates, record.reproducer))
            assert record.strict and "error" not in record.tests


def test_load_is_the_grid_and_for_function_is_everything():
    """The plugin's xfails and stale-entry warning read ``load``: a property record there
    would warn as stale on every run."""
    assert divergences.load() == [r for r in RECORDS if r.kind in ("grid", "accuracy")]
    records = divergences.for_function("binary_cross_entropy")
    assert [r.kind for r in records] == ["grid", "property", "property", "accuracy", "grid", "grid"]
    assert records == [r for r in RECORDS if r.function == "binary_cross_entropy"]


def test_an_xfail_record_decides_before_an_accuracy_record():
    """Whatever their order: the accuracy record narrows the policy only where no xfail applies."""
    accuracy = divergences.Divergence(("backward",), "nll_loss", "^nll_loss\\(bfloat16, ", "r", accuracy="elementwise")
    xfail = divergences.Divergence(("backward",), "nll_loss", "\\(257, 3\\)", "r")
    assert divergences.first_applying([accuracy, xfail], "backward", "nll_loss(bfloat16, (257, 3))") is xfail
    assert divergences.first_applying([accuracy, xfail], "backward", "nll_loss(bfloat16, (4, 5))") is accuracy
    assert divergences.first_applying([accuracy, xfail], "forward", "nll_loss(bfloat16, (4, 5))") is None


def test_a_property_record_matches_no_case_id():
    record = next(r for r in RECORDS if r.kind == "property" and r.function == "soft_margin_loss")
    assert not record.applies("forward", "soft_margin_loss(float32, (4,), values=overflow)")


GRID = 'tests = ["forward"]\nfunction = "mse_loss"\nreason = "r"\npattern = "p"\n'
PROPERTY = 'tests = ["forward"]\nfunction = "mse_loss"\nreason = "r"\npredicate = "p"\nreproducer = "q"\n'


@pytest.mark.parametrize("body", [
    GRID + 'predicate = "p"\n',  # both kinds at once
    'tests = ["forward"]\nfunction = "mse_loss"\nreason = "r"\n',  # neither
    PROPERTY.replace('reproducer = "q"\n', ""),  # nothing that must keep failing
    PROPERTY + "strict = false\n",  # a reproducer is strict
    GRID + 'links = "typo"\n',
    GRID + 'accuracy = "loose"\n',  # an accuracy record names a policy the suite has
])
def test_a_malformed_record_is_refused(tmp_path, body):
    (tmp_path / "family.toml").write_text("[[divergence]]\n" + body)
    with pytest.raises(ValueError, match="family.toml"):
        divergences.records(str(tmp_path))


def test_a_record_of_several_functions_is_one_record_for_each(tmp_path):
    (tmp_path / "family.toml").write_text("[[divergence]]\n" + GRID.replace('"mse_loss"', '["mse_loss", "l1_loss"]')
                                          + "[[divergence]]\n" + GRID.replace("mse_loss", "huber_loss"))
    records = divergences.records(str(tmp_path))
    assert [r.function for r in records] == ["mse_loss", "l1_loss", "huber_loss"]
    assert records[0] == dataclasses.replace(records[1], function="mse_loss")
    assert records[1].applies("forward", "l1_loss(float32, (4,), p)") and not records[1].applies(
        "forward", "mse_loss(float32, (4,), p)")
