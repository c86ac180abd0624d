"""The golden-vector export (``python -m conformance export``) read back by a small reader
that uses NumPy and json only, as a port in another language would, and checked against
the reference, so the export cannot rot; its usage errors; ``verify`` on intact and damaged
sets."""

import hashlib
import io
import json
import os
import re
import shutil
import zipfile

import numpy as np
import pytest

import reference
from conformance import export
from conformance.compare import TOLERANCES
from conformance.dtypes import FORMATS
from conformance.registry import REGISTRY

FUNCTIONS = ("cross_entropy", "ctc_loss", "softmax", "triplet_margin_with_distance_loss", "gaussian_nll_loss")


@pytest.fixture(scope="module")
def golden(tmp_path_factory):
    out = tmp_path_factory.mktemp("golden")
    assert export.main(["--out", str(out), "-k", ",".join(FUNCTIONS)]) == 0
    return out


# --- the reader: numpy + json only --------------------------------------------------------


def read_manifest(directory):
    sums = dict(reversed(line.split("  ")) for line in open(os.path.join(directory, "SHA256SUMS")).read().splitlines())
    for name, digest in sums.items():
        with open(os.path.join(directory, name), "rb") as f:
            assert hashlib.sha256(f.read()).hexdigest() == digest, f"{name} is corrupt"
    with open(os.path.join(directory, "manifest.json")) as f:
        return json.load(f)


def load_array(directory, ref):
    with np.load(os.path.join(directory, ref["file"])) as npz:
        array = npz[ref["key"]]
    assert list(array.shape) == ref["shape"] and array.dtype.name == ref["dtype"]
    return array


def option(value):
    if isinstance(value, dict) and "float" in value:
        return float(value["float"])
    if isinstance(value, dict) and "callable" in value:
        from conformance.specs.triplet import COSINE, L1  # a port supplies its own equivalent

        return {"l1": L1, "cosine": COSINE}[value["callable"]]
    if isinstance(value, list):
        return tuple(value)
    return value


def arguments(directory, entry):
    values = {name: load_array(directory, ref) for name, ref in entry["arrays"].items()}
    values.update({name: option(v) for name, v in entry["options"].items()})
    ordered = [values[name] for name in entry["args"]]
    return ordered[: entry["positional"]], dict(zip(entry["args"][entry["positional"]:],
                                                    ordered[entry["positional"]:], strict=True))


def within(actual, expected, tol):
    """The manifest's tolerance rule, transcribed from its ``tolerance_policy``."""
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    if actual.shape != expected.shape:
        return False
    with np.errstate(over="ignore"):
        target = np.where(np.isfinite(expected) & ~np.isfinite(expected.astype(tol["dtype"]).astype(np.float64)),
                          np.sign(expected) * np.inf, expected)
    finite = np.isfinite(target)
    same_nonfinite = (actual == target) | (np.isnan(actual) & np.isnan(target))
    if tol["overflow_ok"]:
        same_nonfinite |= np.isfinite(expected) & ~np.isfinite(actual)
    scale = max(np.max(np.abs(expected[finite]), initial=0.0), tol["floor"])
    allowed = tol["growth"] * (tol["rtol"] * np.abs(expected) + tol["atol"] * scale) + tol["tiny"]
    with np.errstate(invalid="ignore"):
        close = finite & np.isfinite(actual) & (np.abs(actual - expected) <= allowed)
    return bool(np.all(np.where(finite, close | (tol["overflow_ok"] & same_nonfinite), same_nonfinite)))


def float64_budget(tol):
    """The float64 semantics budget at ``tol``'s growth. The exported values meet a fresh
    computation of the reference here, and another CPU or libm may round the last bit of a
    float64 differently: equality would test the host, not the export."""
    budget = TOLERANCES["float64"]
    return {**tol, "dtype": "float64", "rtol": budget.rtol, "atol": budget.atol, "tiny": FORMATS["float64"].tiny,
            "overflow_ok": False}


def widened(args, kwargs):
    wide = [np.asarray(a, np.float64) if isinstance(a, np.ndarray) and a.dtype.kind == "f" else a for a in args]
    return wide, {k: np.asarray(v, np.float64) if isinstance(v, np.ndarray) and v.dtype.kind == "f" else v
                  for k, v in kwargs.items()}


# --- the checks ----------------------------------------------------------------------------


def test_manifest_header(golden):
    manifest = read_manifest(golden)
    assert manifest["versions"]["format"] == export.FORMAT_VERSION
    assert manifest["versions"]["numpy"] == np.__version__ and manifest["versions"]["suite"]
    assert set(manifest["tolerances"]) == {"float64", "float32", "float16", "bfloat16"}
    assert {c["function"] for c in manifest["cases"]} == set(FUNCTIONS)
    assert {c["dtype"] for c in manifest["cases"]} == {"float64", "float32"}
    for name, info in manifest["files"].items():
        assert zipfile.is_zipfile(golden / name) and info["bytes"] == os.path.getsize(golden / name)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # non-finite value classes
@pytest.mark.filterwarnings("ignore:Implicit dimension choice:UserWarning")  # softmax cases with dim=None
def test_every_case_matches_the_reference(golden):
    manifest = read_manifest(golden)
    for entry in manifest["cases"]:
        args, kwargs = arguments(golden, entry)
        fn = getattr(reference, entry["function"])
        out = np.asarray(fn(*widened(args, kwargs)[0], **widened(args, kwargs)[1]), np.float64)
        expected = load_array(golden, entry["expected"]["output"])
        assert within(out, expected, float64_budget(entry["tolerance"]["output"])), entry["id"]
        # the reference rounded to the output dtype is within the exported tolerance
        rounded = out.astype(entry["expected"]["output_dtype"])
        assert within(rounded, expected, entry["tolerance"]["output"]), entry["id"]
        if "gradients" in entry["expected"]:
            grad_output = load_array(golden, entry["expected"]["grad_output"])
            wide_args, wide_kwargs = widened(args, kwargs)
            grads = getattr(reference, entry["function"] + "_backward")(np.asarray(grad_output, np.float64),
                                                                       *wide_args, **wide_kwargs)
            budget = float64_budget(entry["tolerance"]["gradients"])
            for name, ref in entry["expected"]["gradients"].items():
                assert within(grads[name], load_array(golden, ref), budget), f"{entry['id']}: gradient of {name}"


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_error_cases_raise_the_exported_class(golden):
    manifest = read_manifest(golden)
    assert manifest["errors"]
    for entry in manifest["errors"]:
        args, kwargs = arguments(golden, entry)
        with pytest.raises(Exception) as info:
            getattr(reference, entry["function"])(*widened(args, kwargs)[0], **widened(args, kwargs)[1])
        assert type(info.value).__name__ == entry["raises"] or entry["raises"] in [
            c.__name__ for c in type(info.value).__mro__], entry["id"]


def test_tolerance_rule_rejects_a_wrong_value(golden):
    entries = (e for e in read_manifest(golden)["cases"] if e["dtype"] == "float64"
               and e["expected"]["output"]["shape"] == [] and e["values"] == "normal")
    expected, entry = next((x, e) for e in entries
                           if np.isfinite(x := load_array(golden, e["expected"]["output"])) and x != 0)
    assert within(expected, expected, entry["tolerance"]["output"])
    assert not within(expected * (1 + 1e-9) + 1e-9, expected, entry["tolerance"]["output"])


def test_selection_covers_every_dtype_shape_value_class_and_option():
    from conformance.cases import generate
    from conformance.registry import REGISTRY

    spec = REGISTRY["cross_entropy"]
    chosen = export.select("cross_entropy")
    features = set().union(*(export._features(c) for c in chosen))
    small = set().union(*(export._features(c) for c in generate(spec, dtypes=export.DTYPES)
                          if export._features(c)))
    assert {f for f in small if f[0] in ("values", "dtype")} <= features
    assert len(chosen) <= max(export.PER_FUNCTION, len({f for f in features}))


def test_export_is_deterministic(tmp_path):
    # Byte equality is sound here: both exports come from this host in this run. Across hosts
    # the float64 results may differ in the last bit, and so may the checksums.
    a, b = tmp_path / "a", tmp_path / "b"
    export.export(str(a), functions=("mse_loss",))
    export.export(str(b), functions=("mse_loss",))
    assert (a / "SHA256SUMS").read_text() == (b / "SHA256SUMS").read_text()


# --- usage errors: exit 4, one line, nothing written ------------------------------


def usage_error(capsys, out, *argv):
    """The message of ``export --out out *argv``, which must be a usage error that writes nothing."""
    with pytest.raises(SystemExit) as info:
        export.main(["--out", str(out), *argv])
    assert info.value.code == 4
    assert not os.path.exists(out)
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    return err.strip()


@pytest.mark.parametrize(("argv", "fragments"), [
    (["-k", "soft_margin_los"], ["argument -k: unknown function 'soft_margin_los' (did you mean soft_margin_loss?)"]),
    (["--function", "mse_loss", "-k", "nll_loss"], ["argument -k: none of nll_loss is in --function mse_loss"]),
    (["--function", ","], ["argument --function: ',' names no function"]),
    (["--function", "mse_loss", "--max-elements", "-1"], ["argument --max-elements: '-1': must be at least 1"]),
    (["--dtype", "bogus"], ["argument --dtype: unknown dtype 'bogus'", "float64, float32, float16, bfloat16",
                            "exportable: float64, float32"]),
    (["--dtype", "float32,bfloat16"], ["bfloat16 cannot be exported: NumPy's .npy format has no bfloat16",
                                       "exportable dtypes: float64, float32"]),
    (["--dtype", "float16"], ["float16 cannot be exported", "exportable dtypes: float64, float32"]),
], ids=["typo -k", "-k outside --function", "empty --function", "no case small enough", "bogus dtype", "bfloat16",
        "float16"])
def test_usage_error(tmp_path, capsys, argv, fragments):
    message = usage_error(capsys, tmp_path / "golden", *argv)
    assert message.startswith("python -m conformance export: error: ")
    for fragment in fragments:
        assert fragment in message


def test_an_unknown_function_lists_the_known_names(tmp_path, capsys):
    message = usage_error(capsys, tmp_path / "golden", "--function", "mse_loss,nll_los")
    assert "argument --function: unknown function 'nll_los' (did you mean nll_loss?)" in message
    assert message.endswith("known functions: " + ", ".join(REGISTRY))


def test_an_output_path_under_a_file_is_a_usage_error(tmp_path, capsys):
    (tmp_path / "file").write_text("not a directory")
    message = usage_error(capsys, tmp_path / "file" / "golden", "--function", "mse_loss")
    assert message.endswith(f"cannot write to {tmp_path / 'file' / 'golden'}: {tmp_path / 'file'} is not a directory")
    assert os.listdir(tmp_path) == ["file"]


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes to a read-only directory")
def test_a_read_only_output_directory_is_a_usage_error(tmp_path, capsys):
    read_only = tmp_path / "read_only"
    read_only.mkdir(mode=0o555)
    message = usage_error(capsys, read_only / "golden", "--function", "mse_loss")
    assert message.endswith(f"cannot write to {read_only / 'golden'}: {read_only}: Permission denied")


def test_parse_functions_takes_exact_names_in_order():
    assert export.parse_functions(" nll_loss, mse_loss,nll_loss,") == ("nll_loss", "mse_loss")
    with pytest.raises(export.UsageError, match="unknown function 'nll'"):
        export.parse_functions("nll")


def test_function_selects_exactly_that_function(tmp_path):
    # cross_entropy is nll_loss of log_softmax, and its name is no help to a substring match
    # either: only the exact name may select
    assert export.main(["--out", str(tmp_path), "--function", "nll_loss"]) == 0
    manifest = read_manifest(tmp_path)
    assert manifest["selection"]["functions"] == ["nll_loss"]
    assert [c["id"] for c in manifest["cases"]] == [c.id for c in export.select("nll_loss")]
    assert {e["function"] for e in manifest["errors"]} == {"nll_loss"}
    assert len(manifest["errors"]) == len(REGISTRY["nll_loss"].errors)
    assert sorted(os.listdir(tmp_path)) == ["SHA256SUMS", "manifest.json", "nll_loss.npz"]


# --- verify ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_golden(tmp_path_factory):
    out = tmp_path_factory.mktemp("small") / "golden"
    assert export.main(["--out", str(out), "--function", "mse_loss"]) == 0
    return out


@pytest.fixture
def copy(small_golden, tmp_path):
    return shutil.copytree(small_golden, tmp_path / "golden")


def verify_output(capsys, directory):
    code = export.verify_main([str(directory)])
    return code, capsys.readouterr().out.splitlines()


def test_verify_passes_on_a_fresh_export(small_golden, capsys):
    code, lines = verify_output(capsys, small_golden)
    manifest = read_manifest(small_golden)
    assert code == 0 and len(lines) == 1
    assert lines[0].startswith(f"OK: {small_golden}: 2 files match SHA256SUMS and manifest.json; ")
    assert f"of {len(manifest['cases'])} cases and {len(manifest['errors'])} error cases" in lines[0]


def rewrite_member(directory, key, array):
    """Replace one member of mse_loss.npz and record the new file's hashes in both lists, as a
    careless tool would: only the per-array check can then find the problem."""
    path = directory / "mse_loss.npz"
    with zipfile.ZipFile(path) as zf:
        members = {info.filename: zf.read(info) for info in zf.infolist()}
    members.pop(key + ".npy")
    if array is not None:
        buffer = io.BytesIO()
        np.lib.format.write_array(buffer, array)
        members[key + ".npy"] = buffer.getvalue()
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    manifest = json.loads((directory / "manifest.json").read_text())
    manifest["files"]["mse_loss.npz"] = {"sha256": export._sha256(path), "bytes": os.path.getsize(path)}
    (directory / "manifest.json").write_text(json.dumps(manifest))
    (directory / "SHA256SUMS").write_text("".join(f"{export._sha256(directory / n)}  {n}\n"
                                                  for n in ("manifest.json", "mse_loss.npz")))


def first_input(directory):
    return json.loads((directory / "manifest.json").read_text())["cases"][0]["arrays"]["input"]


def flip_a_byte(directory):
    data = bytearray((directory / "mse_loss.npz").read_bytes())
    data[len(data) // 2] ^= 0x01
    (directory / "mse_loss.npz").write_bytes(bytes(data))


def edit_the_manifest(directory):
    text = (directory / "manifest.json").read_text()
    (directory / "manifest.json").write_text(text.replace('"per_function": 64', '"per_function": 65', 1))


def wrong_shape(directory):
    ref = first_input(directory)
    rewrite_member(directory, ref["key"], np.zeros(ref["shape"] + [2], ref["dtype"]))


def wrong_dtype(directory):
    ref = first_input(directory)
    rewrite_member(directory, ref["key"], np.zeros(ref["shape"], np.float16))


@pytest.mark.parametrize(("damage", "problems"), [
    (flip_a_byte, [r"mse_loss\.npz: sha256 is [0-9a-f]{64}, but SHA256SUMS and manifest\.json record [0-9a-f]{64}"]),
    (lambda d: (d / "mse_loss.npz").unlink(), [r"mse_loss\.npz: missing, but SHA256SUMS and manifest\.json list it"]),
    (edit_the_manifest, [r"manifest\.json: sha256 is [0-9a-f]{64}, but SHA256SUMS records [0-9a-f]{64}"]),
    (lambda d: shutil.copy(d / "mse_loss.npz", d / "extra.npz"),
     [r"extra\.npz: not listed in SHA256SUMS or manifest\.json"]),
    (lambda d: (d / "SHA256SUMS").unlink(), [r"SHA256SUMS: missing"]),
    (wrong_shape, [r"mse_loss\.npz: 00000\.input \(argument 'input' of mse_loss\(float64, \(\)\)\): "
                   r"shape \[2\], but manifest\.json records \[\]"]),
    (wrong_dtype, [r"mse_loss\.npz: 00000\.input \(argument 'input' of .*\): dtype float16, but manifest\.json "
                   r"records float64"]),
    (lambda d: rewrite_member(d, first_input(d)["key"], None),
     [r"mse_loss\.npz: 00000\.input \(argument 'input' of .*\): missing from the \.npz"]),
], ids=["flipped byte", "missing npz", "edited manifest", "extra npz", "missing SHA256SUMS", "wrong shape",
        "wrong dtype", "missing array"])
def test_verify_names_each_problem(copy, capsys, damage, problems):
    damage(copy)
    code, lines = verify_output(capsys, copy)
    assert code == 1
    for pattern in problems:
        assert any(re.fullmatch(pattern, line) for line in lines), (pattern, lines)
    assert not any(line.startswith("OK") for line in lines)


def test_verify_reports_every_problem_not_just_the_first(copy, capsys):
    flip_a_byte(copy)
    shutil.copy(copy / "mse_loss.npz", copy / "extra.npz")
    edit_the_manifest(copy)
    code, lines = verify_output(capsys, copy)
    assert code == 1
    assert {line.split(":")[0] for line in lines} == {"manifest.json", "mse_loss.npz", "extra.npz"}


def test_verify_of_a_missing_directory_is_a_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        export.verify_main([str(tmp_path / "nowhere")])
    assert info.value.code == 4
    err = capsys.readouterr().err
    assert err.startswith("python -m conformance verify: error:") and len(err.strip().splitlines()) == 1
    assert err.splitlines()[-1].endswith(f"argument DIR: '{tmp_path / 'nowhere'}': no such directory")
