"""SPEC.md is generated, current, and every test it names exists."""

import re

import pytest
import torch

from conformance import specdoc
from conformance.cases import find
from conformance.harness import ErrorInstance
from conformance.registry import REGISTRY

with open(specdoc.PATH) as f:
    SPEC = f.read()


def test_spec_is_fresh():
    generated_with = re.search(r"against torch (\S+)\.", SPEC).group(1)
    if torch.__version__.split("+")[0] != generated_with:
        pytest.skip(f"SPEC.md was generated against torch {generated_with}; the registry adapts to the installed torch")
    assert SPEC == specdoc.render(), "SPEC.md is stale: run python -m conformance.specdoc"


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
