"""SPEC.md is generated, current, and every test it names exists."""

import doctest
import re

import pytest
import torch

from conformance import specdoc
from conformance.cases import find
from conformance.harness import ErrorInstance
from conformance.registry import REGISTRY

with open(specdoc.PATH) as f:
    SPEC = f.read()


def skip_unless_generated_with_this_torch():
    generated_with = re.search(r"against torch (\S+)\.", SPEC).group(1)
    if torch.__version__.split("+")[0] != generated_with:
        pytest.skip(f"SPEC.md was generated against torch {generated_with}; the registry adapts to the installed torch")


def test_spec_is_fresh():
    skip_unless_generated_with_this_torch()
    diff = specdoc.stale(SPEC, specdoc.render())
    assert not diff, "SPEC.md is stale: run python -m conformance.specdoc\n" + "".join(diff)


def test_every_function_has_a_section():
    for name in REGISTRY:
        assert f"\n## {name}\n" in SPEC


def test_every_named_test_exists():
    forward = re.findall(r"test_forward\[(.*?\))\]`", SPEC)
    errors = re.findall(r"test_error\[(.*?\))\]`", SPEC)
    assert len(forward) > 100 and len(errors) > 100
    for case_id in forward:
        assert find(case_id).id == case_id
    error_ids = {ErrorInstance(n, i).id for n, spec in REGISTRY.items() for i in range(len(spec.errors))}
    assert set(errors) <= error_ids


# --- the freshness rule: numbers within the float64 budget, everything else exact ------------


ROW = "| p=3 | {} | `...test_forward[triplet_margin_loss(float64, (1, 4), p=3)]` |\n"


def test_results_may_move_within_the_budget():
    assert specdoc.same_numbers(ROW.format("3.067689102567873"), ROW.format("3.067689102567872"))
    x = 3.067689102567873
    assert specdoc.same_numbers(ROW.format(x), ROW.format(x * (1 + 0.99 * specdoc.BUDGET)))
    assert not specdoc.same_numbers(ROW.format(x), ROW.format(x * (1 + 1.01 * specdoc.BUDGET)))
    assert specdoc.same_numbers("rtol 1e-12", "rtol 1.0000000000001e-12")
    assert not specdoc.same_numbers("rtol 1e-12", "rtol 1.1e-12"), "a small number is held relatively"


@pytest.mark.parametrize("written, generated", [
    ("| 0.0 |", "| 1e-300 |"),
    ("| nan |", "| 0.0 |"),
    ("| inf |", "| -inf |"),
    ("| shape (4, 5), 3 NaN |", "| shape (4, 5), 2 NaN |"),
    (ROW.format("1.5"), ROW.format("1.5").replace("p=3", "p=4")),
    (ROW.format("1.5"), ROW.format("1.5").replace("(1, 4)", "(1, 5)")),
    ("against torch 2.13.0.", "against torch 2.13.1."),
    ("| 1.5 |", "| 1.5 | 2.5 |"),
    ("| 1.5 |", "| 1.5 | |"),
])
def test_labels_counts_and_non_finite_values_stay_exact(written, generated):
    assert not specdoc.same_numbers(written, generated)
    assert specdoc.stale(written, generated)


def test_the_shown_digits_fit_in_the_budget():
    # two hosts one step apart, on either side of a rounding boundary in the last shown digit
    boundary = float("1.0000000000005")
    below, above = (specdoc._shown(boundary * (1 + s * 2.0**-52)) for s in (-4, 4))
    assert below != above and specdoc.same_numbers(below, above)
    assert 10.0 ** (1 - specdoc.DIGITS) <= specdoc.BUDGET / 2


def test_stale_shows_only_what_moved_out_of_budget():
    written = ROW.format("1.5") + ROW.format("2.5")
    generated = ROW.format("1.5000000000001") + ROW.format("2.6")
    diff = "".join(specdoc.stale(written, generated))
    assert "2.6" in diff and "1.5" not in diff
    assert specdoc.stale(written, written) == []


def test_docstring_examples():
    assert doctest.testmod(specdoc).failed == 0
