"""The conformance tests: every generated case, forward and backward, and every error case.

Each test delegates to ``conformance.harness``; see README "Reading a failure". The worst
error in ULPs and in relative terms is recorded as test properties for ``python -m conformance``'s summary.
"""

import pytest

from conformance.harness import check_backward, check_error, check_forward


def _report(outcome, record_property):
    if outcome.max_ulp:
        record_property("max_ulp", outcome.max_ulp)
    if outcome.max_rel:
        record_property("max_rel", outcome.max_rel)
    if outcome.status == "skipped":
        pytest.skip(outcome.message)
    if outcome.status == "failed":
        pytest.fail(outcome.message, pytrace=False)


def test_forward(case, target, record_property):
    _report(check_forward(case, target), record_property)


def test_backward(case, target, record_property):
    _report(check_backward(case, target), record_property)


def test_error(error_instance, target, record_property):
    _report(check_error(error_instance, target), record_property)
