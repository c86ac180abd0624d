"""The verdict of ``python -m conformance`` is true: planted targets that hang, crash, change global
state or return nonsense fail their own cases and nothing else; nothing checked is never a pass;
the report is written (and marked) whatever happens, and totals equal the checks that ran."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from tests.cli import clean_environment, conformance

HERE = os.path.dirname(os.path.abspath(__file__))
MISBEHAVING = os.path.join(HERE, "ports", "misbehaving.py")
PLANTED = {  # function -> (status it must show, what its message must say)
    "softmax": ("timeout", "timed out after 3 s in softmax("),
    "l1_loss": ("timeout", "timed out after 3 s in l1_loss("),
    "smooth_l1_loss": ("crashed", "target crashed (signal 11, SIGSEGV)"),
    "huber_loss": ("crashed", "target crashed (signal 6, SIGABRT)"),
    "hinge_embedding_loss": ("crashed", "target crashed (signal 8, SIGFPE)"),
    "margin_ranking_loss": ("failed", "changed global state (put back for the next case): grad mode True -> False"),
    "soft_margin_loss": ("failed", "changed global state (put back for the next case): NumPy error state"),
    "cosine_embedding_loss": ("failed", "device: got meta, but should be cpu"),
}
INNOCENT = ("log_softmax", "mse_loss")
FUNCTIONS = ",".join([*PLANTED, *INNOCENT])


def _misbehaving_run(tmp_path_factory, workers):
    directory = tmp_path_factory.mktemp(f"misbehaving-n{workers}")
    (directory / "once").mkdir()
    # Forward and error checks are enough: each misbehaviour strikes in the call, which every kind makes.
    result = conformance(["--target", MISBEHAVING, "--dtype", "float32", "--check", "forward,error",
                          "--case-timeout", "3", "--function", FUNCTIONS,
                          "--report-dir", str(directory / "reports"), "-n", str(workers)],
                         directory, env={"MISBEHAVING_ONCE": str(directory / "once")})
    with open(directory / "reports" / "conformance.json") as f:
        return result, json.load(f)


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    return _misbehaving_run(tmp_path_factory, 0)


def _failures(report, function):
    return [f for c in report["cells"] if c["function"] == function for f in c["failures"]]


@pytest.mark.slow
@pytest.mark.parametrize("function", PLANTED)
def test_a_planted_misbehaviour_fails_its_own_cases_with_its_status(serial, function):
    result, report = serial
    status, says = PLANTED[function]
    failures = _failures(report, function)
    assert failures and all(f["status"] == status for f in failures if says in f["message"])
    shown = [f for f in failures if f["status"] == status]
    assert shown and says in shown[0]["message"], shown[0]["message"] if shown else failures[0]["message"]
    assert all(f["call"] and f["rerun"] and f["rerun"].startswith("pytest --pyargs") for f in failures)


@pytest.mark.slow
def test_the_innocent_pass_and_the_run_goes_on(serial):
    result, report = serial
    assert result.returncode == 1, result.stdout + result.stderr
    for function in INNOCENT:
        cells = [c for c in report["cells"] if c["function"] == function]
        assert cells and all(c["status"] == "passed" for c in cells), function
    totals = report["totals"]
    assert totals["timeout"] == 2 and totals["crashed"] == 3
    assert report["verdict"]["status"] == "failed" and report["verdict"]["exit_code"] == 1
    assert "2 timed out, 3 crashed" in result.stdout
    # Every check that ran is counted once: the totals are pytest's own counts, mapped.
    pytest_counts = report["pytest"]
    assert sum(totals.values()) == report["environment"]["checks"] == sum(pytest_counts.values())
    assert pytest_counts["failed"] == totals["failed"] + totals["timeout"] + totals["crashed"] + totals["error"]


@pytest.mark.slow
def test_a_crash_quotes_where_the_worker_died(serial):
    _, report = serial
    crash = next(f for f in _failures(report, "smooth_l1_loss") if f["status"] == "crashed")
    assert "last output of the worker:" in crash["message"] and "misbehaving.py" in crash["message"]


@pytest.mark.slow
def test_workers_give_the_same_report(serial, tmp_path_factory):
    result, report = _misbehaving_run(tmp_path_factory, 2)
    assert result.returncode == 1, result.stdout + result.stderr
    assert report["totals"] == serial[1]["totals"]
    messages = [f["message"] for c in report["cells"] for f in c["failures"]]
    assert messages and not any("[gw" in m for m in messages)
    # The same failures, in the same order; which case a strike-once hang or crash hit depends on
    # how xdist spread the cases, so those are compared per function.
    def failures(r, lost):
        return [(f["test"], f["status"]) if not lost else (c["function"], f["status"])
                for c in r["cells"] for f in c["failures"] if (f["status"] in ("timeout", "crashed")) == lost]

    assert failures(report, False) == failures(serial[1], False)
    assert sorted(failures(report, True)) == sorted(failures(serial[1], True))


def _report(directory):
    with open(directory / "reports" / "conformance.json") as f:
        return json.load(f)


def test_a_target_that_provides_nothing_checks_nothing(tmp_path):
    result = conformance(["--target", "json", "--function", "mse_loss,softmax", "--dtype", "float64", "--report-dir",
                          "reports"], tmp_path)
    assert result.returncode == 5, result.stdout + result.stderr
    report = _report(tmp_path)
    assert report["verdict"]["status"] == "nothing checked"
    assert "nothing was checked" in result.stdout and "not provided by target" in result.stdout
    assert report["skip_reasons"] == {"not provided by target": report["totals"]["skipped"]}


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present")
def test_cuda_without_a_gpu_checks_nothing(tmp_path):
    result = conformance(["--device", "cuda", "--function", "mse_loss", "--dtype", "float64",
                          "--report-dir", "reports"], tmp_path)
    assert result.returncode == 5, result.stdout + result.stderr
    reasons = _report(tmp_path)["skip_reasons"]
    from conformance.cases import conformance_grid, transform_grid
    from conformance.registry import REGISTRY

    grid = {"functions": ("mse_loss",), "dtypes": ("float64",), "devices": ("cuda",)}
    checks = 2 * len(conformance_grid(**grid)) + len(REGISTRY["mse_loss"].errors) + 3 * len(transform_grid(**grid))
    assert list(reasons.values()) == [checks] and "not available" in next(iter(reasons)).lower()


def test_a_selection_of_nothing_replaces_an_older_report(tmp_path):
    green = conformance(["--function", "softmax", "--dtype", "float64", "--report-dir", "reports"], tmp_path)
    assert green.returncode == 0 and _report(tmp_path)["verdict"]["status"] == "passed"
    nothing = conformance(["--function", "softmax", "-k", "no_such_case", "--report-dir", "reports"], tmp_path)
    assert nothing.returncode == 5, nothing.stdout + nothing.stderr
    report = _report(tmp_path)
    assert report["verdict"]["status"] == "nothing checked" and report["environment"]["checks"] == 0
    with open(tmp_path / "reports" / "conformance.md") as f:
        assert "all checks pass" not in f.read().lower()


def test_a_report_directory_that_cannot_be_written_stops_the_run_before_it_starts(tmp_path):
    (tmp_path / "file").write_text("")
    started = time.monotonic()
    result = conformance(["--function", "mse_loss", "--report-dir", str(tmp_path / "file" / "reports")], tmp_path)
    assert result.returncode == 4, result.stdout + result.stderr
    assert "cannot write the report" in result.stderr and "passed" not in result.stdout
    assert time.monotonic() - started < 60


def test_a_target_that_cannot_be_loaded_is_a_usage_error(tmp_path):
    result = conformance(["--target", "missing.py", "--report-dir", "reports"], tmp_path)
    assert result.returncode == 4, result.stdout + result.stderr
    assert "--target missing.py: cannot load it: FileNotFoundError" in result.stderr
    assert result.stderr.count("cannot load it") == 1


@pytest.mark.slow
def test_ctrl_c_writes_a_partial_report_marked_interrupted(tmp_path):
    hanging = tmp_path / "hanging"
    environment = clean_environment({"MISBEHAVING_HANGING": str(hanging)})
    process = subprocess.Popen([sys.executable, "-m", "conformance", "--target", MISBEHAVING, "--function",
                                "mse_loss,softmax", "--dtype", "float32", "--report-dir", "reports"],
                               cwd=tmp_path, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not hanging.exists() and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.2)
        assert hanging.exists(), "the planted hang never began"
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 2, out + err
    report = _report(tmp_path)
    assert report["interrupted"] and report["verdict"]["status"] == "interrupted"
    assert report["totals"]["passed"] > 0  # mse_loss ran before softmax hung
