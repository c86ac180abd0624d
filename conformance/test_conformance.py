"""The conformance tests: every generated case, forward and backward, and every error case; the
transforms (jvp, gradgrad, vmap: ``conformance/transforms.py``) on their float64 and float32 grid; with
``--conformance-profile scale``, the production-shape cases of ``conformance/scale.py`` instead.

Each test delegates to ``conformance.harness`` through the ``checker`` fixture, which runs the check in
a worker process holding the target (``conformance.isolation``); see README.md, "Reading a failure". The worst
error in ULPs and in relative terms is recorded as test properties for ``python -m conformance``'s summary.
"""

import pytest


def _report(outcome, record_property):
    if outcome.max_ulp:
        record_property("max_ulp", outcome.max_ulp)
    if outcome.max_rel:
        record_property("max_rel", outcome.max_rel)
    if outcome.status == "skipped":
        pytest.skip(outcome.message)
    if outcome.status != "passed":
        if outcome.status != "failed":
            record_property("status", outcome.status)  # timeout, crashed or error: a failure of its own kind
        pytest.fail(outcome.message, pytrace=False)


def test_forward(case, checker, record_property):
    _report(checker.run("forward", case), record_property)


def test_backward(case, checker, record_property):
    _report(checker.run("backward", case), record_property)


def test_jvp(transform_case, checker, record_property):
    _report(checker.run("jvp", transform_case), record_property)


def test_gradgrad(transform_case, checker, record_property):
    _report(checker.run("gradgrad", transform_case), record_property)


def test_vmap(transform_case, checker, record_property):
    _report(checker.run("vmap", transform_case), record_property)


def test_scale_forward(scale_case, checker, record_property):
    _report(checker.run("scale_forward", scale_case), record_property)


def test_scale_backward(scale_case, checker, record_property):
    _report(checker.run("scale_backward", scale_case), record_property)


def test_error(error_instance, checker, record_property):
    _report(checker.run("error", error_instance), record_property)
