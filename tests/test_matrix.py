"""The compatibility matrix: targets listed with whether they can run, findings grouped by cause,
cells counted per function, and a Markdown table a reader can check against the JSON."""

import json
import os

import pytest

from conformance import matrix
from conformance.cases import conformance_grid


def _report(cells, checks=10):
    return {"environment": {"checks": checks}, "verdict": {"status": "failed", "text": "failed: ..."},
            "totals": {"passed": 7, "failed": 2, "skipped": 1}, "cells": cells}


def _cell(function, dtype, counts, failures=()):
    base = dict.fromkeys(("passed", "failed", "timeout", "crashed", "error", "skipped", "xfailed", "xpassed"), 0)
    return {"function": function, "dtype": dtype, "counts": {**base, **counts}, "failures": list(failures)}


def _failure(case_id, message, status="failed"):
    return {"id": case_id, "status": status, "message": message, "call": "F.mse_loss(...)", "rerun": "pytest ..."}


def test_findings_group_failures_by_function_status_and_message_shape():
    cells = [_cell("mse_loss", "float32", {"passed": 5, "failed": 3}, [
        _failure("mse_loss(float32, (4,))", "output: got 1.5, but should be 2.25 at index ()\ncall: ..."),
        _failure("mse_loss(float32, (5,))", "output: got 3.0, but should be 4.5 at index ()\ncall: ..."),
        _failure("mse_loss(float32, ())", "raised ValueError: axis 1 is out of bounds"),
    ]), _cell("l1_loss", "float32", {"passed": 2, "crashed": 1}, [
        _failure("l1_loss(float32, ())", "target crashed (signal 11, SIGSEGV) after 0.03 s in l1_loss", "crashed")])]
    found = matrix.findings(_report(cells))
    assert [(f["function"], f["status"], f["count"]) for f in found] == [
        ("mse_loss", "failed", 2), ("l1_loss", "crashed", 1), ("mse_loss", "failed", 1)]
    assert found[0]["what"] == "output: got #, but should be # at index ()"
    assert found[0]["example"] == "mse_loss(float32, (4,))"


def test_cells_and_markdown():
    target = matrix.TARGETS[0]
    report = _report([_cell("mse_loss", "float32", {"passed": 5, "failed": 2, "timeout": 1, "xfailed": 1}),
                      _cell("mse_loss", "float64", {"passed": 6, "skipped": 2})])
    built = matrix.build([(target, ("--dtype", "float32"), report, None, 2.0)])
    column = built["columns"][0]
    assert column["cells"]["mse_loss"] == {"passed": 11, "failed": 3, "skipped": 3}
    assert column["cells"]["l1_loss"] == {"passed": 0, "failed": 0, "skipped": 0}
    assert column["checks_per_second"] == 5.0 and column["run_per_second"] == 4.5
    text = matrix.to_markdown(built)
    assert "| `mse_loss` | ❌ 11 / 3 / 3 |" in text and "| `l1_loss` | - |" in text
    assert column["date"] and column["versions"]["torch"]
    assert "| `torch` (`torch.nn.functional`) | `--dtype float32` |" in text
    assert "| failed: 7 passed, 2 failed, 1 skipped of 10 checks |" in text
    # the dtype dimension: a table per dtype, and "not run" for a column published before it
    assert column["dtypes"]["float32"]["mse_loss"] == {"passed": 5, "failed": 3, "skipped": 1}
    assert column["dtypes"]["float64"]["mse_loss"] == {"passed": 6, "failed": 0, "skipped": 2}
    older = {key: value for key, value in column.items() if key != "dtypes"} | {"target": "older"}
    text = matrix.to_markdown({"columns": [column, older]})
    float64 = text.split("### float64")[1].split("###")[0]
    assert "| `mse_loss` | ✅ 6 / 0 / 2 | not run |" in float64
    assert "| `mse_loss` | ❌ 5 / 3 / 1 | not run |" in text.split("### float32")[1]


@pytest.mark.slow
def test_a_target_stopped_at_its_budget_keeps_what_ran(tmp_path):
    """At its budget a target's run is interrupted, not killed: its partial report is read and the
    column says that it stopped, so a slow target shows what it checked instead of nothing. The
    target takes 0.1 s a call, so its 1,000-odd mse_loss checks cannot finish in the budget, which
    leaves a loaded host ten seconds to start the run (about 4 s here)."""
    slow = os.path.join(os.path.dirname(__file__), "ports", "slow_mse_loss.py")
    target = matrix.Target("slow", slow, ("torch",), "")
    report, note, elapsed = matrix._run(target, ("--function", "mse_loss"), 20, str(tmp_path))
    assert note.startswith("stopped at its budget of 20 s")
    assert report is not None and report["verdict"]["status"] == "interrupted"
    assert 0 < report["environment"]["checks"] < 2 * len(conformance_grid(functions=("mse_loss",)))
    column = matrix.build([(target, (), report, note, elapsed)])["columns"][0]
    assert column["note"].endswith("(interrupted)")


def _fake_run(checks):
    """matrix._run without a subprocess: a report of ``checks`` checks that ran, one passed mse_loss cell."""

    def run(target, arguments, budget, directory):
        cells = [_cell("mse_loss", "float32", {"passed": checks})] if checks else []
        report = {"environment": {"checks": checks}, "verdict": {"status": "passed" if checks else "nothing checked",
                                                                 "text": "..."},
                  "totals": {"passed": checks, "failed": 0, "skipped": 0}, "cells": cells}
        return report, None, 1.0

    return run


def test_only_updates_its_own_columns_and_keeps_the_others(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(matrix, "_run", _fake_run(4))
    assert matrix.matrix_main(["--out", str(tmp_path), "--only", "torch,torch._refs"]) == 0
    first = json.loads((tmp_path / "matrix.json").read_text())
    assert [c["target"] for c in first["columns"]] == ["torch", "torch._refs"]
    monkeypatch.setattr(matrix, "_run", _fake_run(6))
    assert matrix.matrix_main(["--out", str(tmp_path), "--only", "torch._refs"]) == 0
    second = json.loads((tmp_path / "matrix.json").read_text())
    assert [(c["target"], c["ran"]) for c in second["columns"]] == [("torch", 4), ("torch._refs", 6)]
    assert second["columns"][0] == first["columns"][0]  # its date, versions and selection as published
    assert "| `torch._refs` | " not in (tmp_path / "matrix.md").read_text()  # columns are named in the header
    assert (tmp_path / "matrix.md").read_text().count("`torch` (`torch.nn.functional`)") == 1


def test_a_run_that_checked_nothing_keeps_the_published_matrix_unless_forced(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(matrix, "_run", _fake_run(4))
    assert matrix.matrix_main(["--out", str(tmp_path), "--only", "torch"]) == 0
    published = (tmp_path / "matrix.json").read_text(), (tmp_path / "matrix.md").read_text()
    monkeypatch.setattr(matrix, "_run", _fake_run(0))
    assert matrix.matrix_main(["--out", str(tmp_path), "--only", "torch"]) == 5
    assert "nothing was checked" in capsys.readouterr().err
    assert ((tmp_path / "matrix.json").read_text(), (tmp_path / "matrix.md").read_text()) == published
    assert matrix.matrix_main(["--out", str(tmp_path), "--only", "torch", "--force"]) == 0
    assert json.loads((tmp_path / "matrix.json").read_text())["columns"][0]["ran"] == 0


@pytest.mark.parametrize("arguments, says", [
    (["--budget", "-5"], "--budget: '-5': must be more than 0"),
    (["--budget", "0"], "--budget: '0': must be more than 0"),
    (["--budget", "soon"], "--budget: 'soon': not a number"),
    (["--only", "torchh"], "--only: 'torchh': unknown 'torchh'; choose from torch, torch.compile"),
])
def test_a_bad_option_writes_nothing(tmp_path, monkeypatch, capsys, arguments, says):
    monkeypatch.setattr(matrix, "_run", _fake_run(4))
    with pytest.raises(SystemExit) as exit_:
        matrix.matrix_main(["--out", str(tmp_path / "out"), *arguments])
    err = capsys.readouterr().err
    assert exit_.value.code == 4 and says in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "out" / "matrix.json").exists()


def test_a_target_that_cannot_run_says_why():
    missing = matrix.Target("nothing", "no.such.module", ("no_such_module_here",), "")
    assert matrix.available(missing) == "not installed: no_such_module_here"
    assert matrix.available(matrix.TARGETS[0]) is None
