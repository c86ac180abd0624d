"""--baseline and diff: a CI job fails only on a change, and a diff names every check that changed."""

import json
import os

import pytest

from conformance import baseline
from tests.cli import conformance

PORTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ports")


def _report(**results):
    return {"results": {status: sorted(tests) for status, tests in results.items()}}


def test_diff_classifies_every_change():
    old = _report(passed=["a", "b", "e"], failed=["c", "d"], skipped=["f"], xfailed=["g"])
    new = _report(passed=["a", "c", "h"], failed=["b", "d", "f"], timeout=["g"], crashed=["i"], skipped=["e"])
    changes = baseline.diff(old, new)
    assert changes["regressed"] == [("b", "passed", "failed"), ("f", "skipped", "failed"), ("g", "xfailed", "timeout"),
                                    ("i", None, "crashed")]
    assert changes["fixed"] == [("c", "failed", "passed")]
    assert changes["added"] == [("h", None, "passed")]
    assert changes["changed"] == [("e", "passed", "skipped")]
    assert changes["removed"] == []
    assert baseline.diff(new, new) == {k: [] for k in changes}


def test_a_report_without_results_is_refused():
    with pytest.raises(ValueError, match="no per-check results"):
        baseline.statuses({"cells": []})


PLANTED = ["--target", os.path.join(PORTS, "planted_mse_loss.py"), "--function", "mse_loss", "--dtype", "float64"]


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    directory = tmp_path_factory.mktemp("baseline")
    paths = {}
    for name in ("faithful", "planted"):
        result = conformance(["--target", os.path.join(PORTS, f"{name}_mse_loss.py"), "--function", "mse_loss",
                              "--dtype", "float64", "--report-dir", directory, "--json", directory / f"{name}.json"],
                             directory)
        assert result.returncode == (0 if name == "faithful" else 1), result.stdout + result.stderr
        paths[name] = directory / f"{name}.json"
    return directory, paths


def test_a_run_that_matches_its_baseline_passes(reports):
    directory, paths = reports
    result = conformance([*PLANTED, "--report-dir", directory / "again", "--baseline", paths["planted"]], directory)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "passed against the baseline" in result.stdout and "failures as expected; no change" in result.stdout
    with open(directory / "again" / "conformance.json") as f:
        assert json.load(f)["baseline"]["regressed"] == []


def test_a_regression_from_the_baseline_fails(reports):
    directory, paths = reports
    result = conformance([*PLANTED, "--report-dir", directory / "worse", "--baseline", paths["faithful"]], directory)
    assert result.returncode == 1, result.stdout + result.stderr
    with open(directory / "worse" / "conformance.json") as f:
        report = json.load(f)
    regressed = report["baseline"]["regressed"]
    assert regressed and len(regressed) == report["totals"]["failed"]
    assert all(was == "passed" and now == "failed" for _, was, now in regressed)


def test_diff_command(reports):
    directory, paths = reports
    worse = conformance(["diff", str(paths["faithful"]), str(paths["planted"])], directory)
    assert worse.returncode == 1
    assert "regressed: test_forward[mse_loss(float64, (4, 5))]: passed -> failed" in worse.stdout
    better = conformance(["diff", str(paths["planted"]), str(paths["faithful"])], directory)
    assert better.returncode == 0 and better.stdout.split(" fixed")[0].isdigit()


def test_an_unreadable_baseline_is_a_usage_error(tmp_path):
    (tmp_path / "bad.json").write_text("{}")
    result = conformance(["--function", "mse_loss", "--baseline", str(tmp_path / "bad.json")], tmp_path)
    assert result.returncode == 4 and "--baseline" in result.stderr
