"""The conformance tests: every generated case, forward and backward, and every error case.

Each test delegates to ``conformance.harness``; see README "Reading a failure".
"""

import pytest

from conformance.harness import check_backward, check_error, check_forward


def _report(outcome):
    if outcome.status == "skipped":
        pytest.skip(outcome.message)
    if outcome.status == "failed":
        pytest.fail(outcome.message, pytrace=False)


def test_forward(case, target):
    _report(check_forward(case, target))


def test_backward(case, target):
    _report(check_backward(case, target))


def test_error(error_instance, target):
    _report(check_error(error_instance, target))
