"""Shards and their merge (conformance/shards.py, conformance/merge.py): the split is a partition
that keeps a call signature together and balances cost; the merge refuses reports that do not
belong together, says "incomplete" for a missing or interrupted shard, and lets a rerun replace
its shard; and the shipped CI recipe (docs/ci/conformance-shards.yml), run here, merges to exactly
the unsharded run."""

import copy
import json
import os
import re
import shutil
import subprocess

import pytest

from conformance import merge, shards
from conformance.cases import conformance_grid, transform_grid
from conformance.harness import ErrorInstance
from conformance.registry import REGISTRY
from tests.cli import clean_environment, conformance

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKFLOW = os.path.join(ROOT, "docs", "ci", "conformance-shards.yml")


def _selection(functions=("mse_loss", "ctc_loss", "softmax")):
    checks = [(kind, case) for case in conformance_grid(functions) for kind in ("forward", "backward")]
    checks += [(kind, case) for case in transform_grid(functions) for kind in ("jvp", "gradgrad", "vmap")]
    checks += [("error", ErrorInstance(f, i)) for f in functions for i in range(len(REGISTRY[f].errors))]
    return checks


@pytest.mark.parametrize("count", [1, 3, 7])
def test_the_shards_partition_the_selection_and_keep_each_signature_whole(count):
    checks = _selection()
    kept = [shards.keep(checks, (k, count)) for k in range(1, count + 1)]
    assert all(sum(flags) == 1 for flags in zip(*kept, strict=True))  # each check in exactly one shard
    owner = {}
    for k, flags in enumerate(kept):
        for (_, item), mine in zip(checks, flags, strict=True):
            if mine:
                assert owner.setdefault(shards.group_of(item), k) == k


def test_the_shards_are_balanced_by_cost_not_by_count():
    checks = _selection()
    assignment = shards.assign(checks, 3)
    loads = [0.0] * 3
    for check, item in checks:
        loads[assignment[shards.group_of(item)]] += shards.cost(check, item)
    heaviest = max(shards.cost(c, i) for c, i in checks)
    assert max(loads) - min(loads) <= max(heaviest * 200, 0.05 * sum(loads))  # LPT: within one group's cost


def test_the_split_is_the_same_whatever_the_order_of_the_selection():
    checks = _selection()
    assert shards.assign(checks, 4) == shards.assign(list(reversed(checks)), 4)


# --- the merge -----------------------------------------------------------------------------------

SMALL = ["--function", "softmax,l1_loss", "--dtype", "float64", "--check", "forward,error"]


@pytest.fixture(scope="module")
def two_shards(tmp_path_factory):
    where = tmp_path_factory.mktemp("shards")
    reports = []
    for k in (1, 2):
        run = conformance([*SMALL, "--shard", f"{k}/2", "--report-dir", f"s{k}"], where)
        assert run.returncode == 0, run.stdout + run.stderr
        reports.append(json.loads((where / f"s{k}" / "conformance.json").read_text()))
    return reports


def test_two_shards_merge_to_a_verdict(two_shards):
    merged = merge.merge([("a", two_shards[0]), ("b", two_shards[1])])
    assert merged["verdict"]["status"] == "passed"
    assert merged["environment"]["checks"] == sum(r["environment"]["checks"] for r in two_shards)
    assert [s["shard"] for s in merged["environment"]["shards"]] == ["1/2", "2/2"]


@pytest.mark.parametrize("field, value", [("target", "other.py"), ("torch", "2.12.0"), ("numpy", "1.26.4"),
                                          ("suite", "0.0.1"), ("dtypes", ["float32"]), ("check_kinds", ["forward"])])
def test_reports_of_different_runs_are_refused_naming_the_field(two_shards, field, value):
    other = copy.deepcopy(two_shards[1])
    other["environment"][field] = value
    with pytest.raises(merge.MergeError, match=f"{field} is"):
        merge.merge([("a", two_shards[0]), ("b", other)])


def test_a_check_in_two_shards_is_refused_naming_it(two_shards):
    other = copy.deepcopy(two_shards[1])
    stolen = two_shards[0]["results"]["passed"][0]
    other["results"]["passed"].append(stolen)
    with pytest.raises(merge.MergeError, match=re.escape(stolen)):
        merge.merge([("a", two_shards[0]), ("b", other)])


def test_a_missing_or_interrupted_shard_is_incomplete_never_passed(two_shards):
    missing = merge.merge([("a", two_shards[0])])
    assert missing["verdict"]["status"] == "incomplete" and "missing shard 2/2" in missing["verdict"]["text"]
    assert missing["verdict"]["exit_code"] == 6
    stopped = copy.deepcopy(two_shards[1])
    stopped["interrupted"] = True
    interrupted = merge.merge([("a", two_shards[0]), ("b", stopped)])
    assert interrupted["verdict"]["status"] == "incomplete" and "interrupted 2/2" in interrupted["verdict"]["text"]


def test_a_rerun_shard_replaces_the_earlier_and_the_report_says_so(two_shards):
    earlier = copy.deepcopy(two_shards[1])
    earlier["environment"]["started"] = "2000-01-01T00:00:00+00:00"
    earlier["cells"][0]["counts"]["failed"] += 1  # the lost job's report, superseded
    merged = merge.merge([("a", two_shards[0]), ("old", earlier), ("new", two_shards[1])])
    assert merged["verdict"]["status"] == "passed"
    assert merged["environment"]["replaced"] == [{"shard": "2/2", "replaced": "old", "by": "new"}]


def test_the_merge_command_reads_files_and_its_errors_are_one_line(two_shards, tmp_path):
    for k, report in enumerate(two_shards, 1):
        (tmp_path / f"{k}.json").write_text(json.dumps(report))
    done = conformance(["merge", "1.json", "2.json", "--out", "merged"], tmp_path)
    assert done.returncode == 0 and "passed" in done.stdout, done.stdout + done.stderr
    assert json.loads((tmp_path / "merged" / "conformance.json").read_text())["verdict"]["status"] == "passed"
    other = copy.deepcopy(two_shards[1])
    other["environment"]["torch"] = "2.12.0"
    (tmp_path / "other.json").write_text(json.dumps(other))
    refused = conformance(["merge", "1.json", "other.json", "--out", "merged"], tmp_path)
    assert refused.returncode == 4 and len(refused.stderr.strip().splitlines()) == 1
    lonely = conformance(["merge", "1.json", "--out", "partial"], tmp_path)
    assert lonely.returncode == 6 and "incomplete" in lonely.stdout


# --- the shipped CI recipe -----------------------------------------------------------------------

def _steps(job):
    return {step.get("name"): step for step in job["steps"]}


@pytest.mark.slow
def test_the_shipped_workflow_runs_here_and_merges_to_the_unsharded_run(tmp_path):
    """Its shard and merge commands, as the workflow writes them, on a small selection (the
    CONFORMANCE_* variables every job would set), for the first target of its matrix."""
    yaml = pytest.importorskip("yaml")
    with open(WORKFLOW) as f:
        workflow = yaml.safe_load(f)
    shard_job, merge_job = workflow["jobs"]["shard"], workflow["jobs"]["merge"]
    count = int(workflow["env"]["SHARDS"])
    assert shard_job["strategy"]["matrix"]["shard"] == list(range(1, count + 1)) and count == 3
    target = shard_job["strategy"]["matrix"]["target"][0]
    selection = {"CONFORMANCE_FUNCTION": "mse_loss,softmax,nll_loss", "CONFORMANCE_DTYPE": "float64",
                 "CONFORMANCE_CHECK": "forward,error"}

    def command(text, **values):
        values = {"matrix.target": target, "env.SHARDS": str(count), **values}
        return re.sub(r"\$\{\{\s*([\w.]+)\s*\}\}", lambda m: values[m.group(1)], text)

    for k in range(1, count + 1):
        job = tmp_path / f"job{k}"
        job.mkdir()
        run = subprocess.run(["bash", "-e", "-c", command(_steps(shard_job)["run the shard"]["run"],
                                                          **{"matrix.shard": str(k)})],
                             cwd=job, capture_output=True, text=True, env=clean_environment(selection), timeout=600)
        assert run.returncode == 0, run.stdout + run.stderr
        artifact = tmp_path / "merge" / "shards" / f"report-{target}-{k}"
        artifact.mkdir(parents=True)
        shutil.copy(job / "report" / "conformance.json", artifact)
    merging = command(_steps(merge_job)["merge the shards and judge the run"]["run"])
    merged = subprocess.run(["bash", "-e", "-c", merging], cwd=tmp_path / "merge", capture_output=True, text=True,
                            env=clean_environment(), timeout=600)
    assert merged.returncode == 0, merged.stdout + merged.stderr
    whole = conformance(["--target", target, "--report-dir", "whole"], tmp_path, selection)
    assert whole.returncode == 0, whole.stdout + whole.stderr
    one = json.loads((tmp_path / "whole" / "conformance.json").read_text())
    joined = json.loads((tmp_path / "merge" / "merged" / "conformance.json").read_text())
    assert joined["results"] == one["results"]
    assert joined["totals"] == one["totals"] and joined["verdict"]["text"] == one["verdict"]["text"]
    assert [(c["function"], c["dtype"], c["counts"]) for c in joined["cells"]] == \
        [(c["function"], c["dtype"], c["counts"]) for c in one["cells"]]


@pytest.mark.slow
def test_a_shard_runs_the_same_checks_under_xdist(tmp_path):
    runs = [conformance([*SMALL, "--shard", "1/2", "--report-dir", name, *extra], tmp_path)
            for name, extra in (("alone", ()), ("xdist", ("-n", "2")))]
    assert all(run.returncode == 0 for run in runs), [run.stdout + run.stderr for run in runs]
    alone, xdist = (json.loads((tmp_path / name / "conformance.json").read_text()) for name in ("alone", "xdist"))
    assert alone["results"] == xdist["results"] and alone["results"]["passed"]


# --- the matrix from shards ------------------------------------------------------------------------

def test_the_matrix_builds_a_column_from_a_targets_shards(two_shards, tmp_path):
    """python -m conformance matrix --from-reports: the shards of one target, run anywhere, are one
    column, merged as python -m conformance merge does (its counts per dtype, the wall time of the
    longest shard and the machine time of all); a missing shard leaves the column incomplete."""
    import gzip

    from conformance import matrix

    paths = [tmp_path / "1.json", tmp_path / "2.json.gz"]  # a report kept compressed reads the same
    paths[0].write_text(json.dumps(two_shards[0]))
    with gzip.open(paths[1], "wt", encoding="utf-8") as f:
        json.dump(two_shards[1], f)
    assert matrix.matrix_main(["--from-reports", *map(str, paths), "--out", str(tmp_path / "whole")]) == 0
    column, = json.loads((tmp_path / "whole" / "matrix.json").read_text())["columns"]
    merged = merge.merge(merge.load(paths))
    assert column["target"] == "torch" and column["shards"] == 2 and column["verdict"] == merged["verdict"]["text"]
    assert column["arguments"] == ["--dtype", "float64", "--function", "softmax,l1_loss", "--check", "forward,error"]
    assert column["seconds"] == round(merged["environment"]["duration_s"], 1)
    assert column["shard_seconds"] == round(merged["environment"]["cpu_s"], 1)
    assert list(column["dtypes"]) == ["float64"]  # the error checks, of no dtype, are in "cells" only
    for counts, dtypes in ((column["cells"]["softmax"], ("float64", "-")), (column["dtypes"]["float64"]["softmax"],
                                                                            ("float64",))):
        assert counts["passed"] == sum(c["counts"]["passed"] for c in merged["cells"]
                                       if c["function"] == "softmax" and c["dtype"] in dtypes) > 0
    text = (tmp_path / "whole" / "matrix.md").read_text()
    assert "### float64" in text and "(2 of 2 shards, " in text
    assert matrix.matrix_main(["--from-reports", str(paths[0]), "--out", str(tmp_path / "half")]) == 0
    half, = json.loads((tmp_path / "half" / "matrix.json").read_text())["columns"]
    assert half["note"].startswith("incomplete") and "missing shard 2/2" in half["note"]
    assert not half["note"].endswith("(incomplete)")
    whole = copy.deepcopy(two_shards[0])  # two reports of one target that are not shards: which is it?
    whole["environment"]["shard"] = None
    unsharded = [tmp_path / "a.json", tmp_path / "b.json"]
    for path in unsharded:
        path.write_text(json.dumps(whole))
    assert matrix.matrix_main(["--from-reports", *map(str, unsharded), "--out", str(tmp_path / "two")]) == 4
