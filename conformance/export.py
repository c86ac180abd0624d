"""``python -m conformance export [--out DIR]``: golden vectors for ports in any language.

Writes, from the deterministic core alone (registry, case generator, reference; torch is
not called), a versioned set of cases that any language can read:

* ``manifest.json``: the versions (format, suite, NumPy, torch when installed), the
  selection, the tolerance policy, the sha256 of every data file, and one entry per case:
  its id, function, dtype, arguments in signature order (which are positional), options
  as JSON, and for every array the ``.npz`` file, the member name, the shape and the dtype;
  the expected output, the fixed ``grad_output`` and every expected gradient (all from
  the float64 reference); the tolerance to apply. Error cases list the exception class
  torch and the reference raise.
* ``<function>.npz``: the arrays of that function's cases, one ``.npy`` member each
  (uncompressed, fixed timestamps: readable by ``numpy.load``, ``cnpy``, ``ndarray-npy``).
  Inputs are stored in the case dtype (their exact values); expected values in float64;
  ``grad_output`` in the output's dtype.
* ``SHA256SUMS``: the sha256 of ``manifest.json`` and of every ``.npz``, in
  ``sha256sum -c`` format.

The selection keeps the set to a few MB, deterministically: of the float64 and float32
cases whose arguments hold at most ``--max-elements`` numbers in all, per function first
the cases that cover a dtype, shape, value class or option value no earlier case covers
(so every one of them is in), then every k-th of the rest, up to ``--per-function`` cases;
and every error case. float16/bfloat16 are left out: NumPy's ``.npy`` has no bfloat16, and
their semantics are float32's.
The export is generated, never committed. The format is documented in docs/porting.md.

``python -m conformance verify DIR`` checks a set before a port trusts it: the files against
``SHA256SUMS`` and the manifest's hashes, and every array the manifest references against
its recorded shape and dtype.
"""

import difflib
import hashlib
import io
import json
import math
import os
import re
import sys
import tempfile
import time
import zipfile

import numpy as np

import reference

from . import domains, options, publish
from .cases import all_cases
from .compare import TOLERANCES, budget_growth
from .dtypes import FLOAT_DTYPES, FORMATS
from .guard import quiet
from .harness import ErrorInstance, differentiable_args, output_dtype, overflow_ok, terms
from .registry import REGISTRY

FORMAT_VERSION = 2  # 2: a tolerance has a floor (the normwise floor follows the array, at least 1/n)
DTYPES = ("float64", "float32")
MAX_ELEMENTS = 128
PER_FUNCTION = 64
ERROR_DTYPE = "float32"  # error cases are built in float32, as the suite runs them
_EPOCH = (1980, 1, 1, 0, 0, 0)  # fixed zip timestamps: the same export gives the same bytes

POLICY = (
    "An element passes when |actual - expected| <= growth * (rtol * |expected| + atol * scale) + tiny, "
    "with scale the largest finite |expected| of the array, or floor where that is larger (1/n for a "
    "result of n input elements), and tiny the dtype's smallest normal number. NaN must be NaN and "
    "+-inf the same inf; an expected value that overflows the output dtype is expected as inf of its "
    "sign. With overflow_ok, a non-finite actual value may stand "
    "in for a finite expected one. Gradients use the same rule with the case dtype's tolerance. "
    "Shapes must match exactly."
)


class UsageError(ValueError):
    """A selection, dtype or output directory that cannot give an export, found before anything is written."""


def parse_functions(text):
    """The registry names in ``text`` (comma-separated, exact), in the order given.

    An unknown name raises ``UsageError`` with the closest name and the list of known ones.

    >>> parse_functions("mse_loss,nll_loss")
    ('mse_loss', 'nll_loss')
    """
    names = tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    if not names:
        raise UsageError(f"{text!r} names no function; known functions: {', '.join(REGISTRY)}")
    for name in names:
        if name not in REGISTRY:
            close = difflib.get_close_matches(name, list(REGISTRY), n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise UsageError(f"unknown function {name!r}{hint}; known functions: {', '.join(REGISTRY)}")
    return names


_NOT_EXPORTED = {
    "bfloat16": "NumPy's .npy format has no bfloat16",
    "float16": "its cases check float32's semantics at a looser budget, which the suite checks against torch",
}


def parse_dtypes(text):
    """The exportable dtypes in ``text`` (comma-separated); anything else raises ``UsageError``."""
    dtypes = tuple(dict.fromkeys(d.strip() for d in text.split(",") if d.strip()))
    if not dtypes:
        raise UsageError(f"{text!r} names no dtype; exportable dtypes: {', '.join(DTYPES)}")
    for dtype in dtypes:
        if dtype not in FLOAT_DTYPES:
            raise UsageError(f"unknown dtype {dtype!r}; known dtypes: {', '.join(FLOAT_DTYPES)} "
                             f"(exportable: {', '.join(DTYPES)})")
        if dtype not in DTYPES:
            raise UsageError(f"{dtype} cannot be exported: {_NOT_EXPORTED[dtype]}; exportable dtypes: "
                             f"{', '.join(DTYPES)}")
    return dtypes


def check_writable(out):
    """Raise ``UsageError`` unless ``out`` is, or can be made, a directory this process can write.

    Probes the nearest existing directory with a file that vanishes on close, so that a
    failed check leaves nothing behind."""
    existing = os.path.abspath(out)
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise UsageError(f"cannot write to {out}: {existing} is not a directory")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as e:
        raise UsageError(f"cannot write to {out}: {existing}: {e.strerror or e}") from None


# user-supplied callables of the registry, by the name the case id shows, for other languages
CALLABLES = {
    "l1": "d(x1, x2) = sum(|x1 - x2|, over the last dimension)",
    "cosine": "d(x1, x2) = 1 - sum(x1 * x2, -1) / sqrt(sum(x1 * x1, -1) * sum(x2 * x2, -1))",
}


def _versions():
    try:
        from importlib.metadata import version

        suite = version("torch-loss-conformance")
    except Exception:  # not installed: the source tree's version
        suite = reference.__version__
    try:
        import torch

        torch_version = torch.__version__
    except ImportError:
        torch_version = None
    return {"format": FORMAT_VERSION, "suite": suite, "numpy": np.__version__, "torch": torch_version}


def _json_value(value):
    """An option as JSON: finite floats as numbers, non-finite ones as {"float": "inf"}."""
    if isinstance(value, bool | str) or value is None:
        return value
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        value = float(value)
        return value if math.isfinite(value) else {"float": repr(value)}
    if isinstance(value, tuple | list):
        return [_json_value(v) for v in value]
    if callable(value):
        name = repr(value).strip("<>")
        return {"callable": name, "definition": CALLABLES.get(name, "")}
    raise TypeError(f"cannot export option value {value!r}")


class _Arrays:
    """The members of one ``.npz`` file, written deterministically."""

    def __init__(self, filename):
        self.filename, self.members = filename, {}

    def add(self, key, array, dtype=None):
        array = np.asarray(array)
        if dtype is not None:
            array = array.astype(dtype)
        self.members[key] = np.array(array, order="C")  # ascontiguousarray would make 0-D arrays 1-D
        return {"file": self.filename, "key": key, "shape": list(array.shape), "dtype": array.dtype.name}

    def write(self, directory):
        path = os.path.join(directory, self.filename)
        with publish.replacing(path, binary=True) as f, zipfile.ZipFile(f, "w", zipfile.ZIP_STORED) as zf:
            for key, array in self.members.items():
                buffer = io.BytesIO()
                np.lib.format.write_array(buffer, array, allow_pickle=False)
                zf.writestr(zipfile.ZipInfo(key + ".npy", date_time=_EPOCH), buffer.getvalue())
        return path


def _tolerance(spec, dtype, n, overflow_ok):
    t = spec.tolerance(dtype) or TOLERANCES[dtype]
    return {"dtype": dtype, "rtol": t.rtol, "atol": t.atol, "growth": budget_growth(n), "floor": 1.0 / max(n, 1),
            "tiny": FORMATS[dtype].tiny, "overflow_ok": overflow_ok}


def _case_entry(case, index, arrays):
    spec = case.spec
    call = spec.sample(case.rng(), case)
    size = sum(v.size for v in call.args.values() if isinstance(v, np.ndarray))
    positional, keywords = call.split()
    out_dtype = output_dtype(case, call)
    key = f"{index:05d}"
    entry = {"id": case.id, "function": case.function, "dtype": case.dtype, "shape": list(case.shape),
             "values": case.values, "args": list(call.args), "positional": call.positional,
             "arrays": {}, "options": {}}
    for name, value in call.args.items():
        if isinstance(value, np.ndarray):
            floating = np.issubdtype(value.dtype, np.floating)
            entry["arrays"][name] = arrays.add(f"{key}.{name}", value, case.dtype if floating else None)
        else:
            entry["options"][name] = _json_value(value)
    output = np.asarray(quiet(getattr(reference, case.function), *positional, **keywords), dtype=np.float64)
    expected = {"output": arrays.add(f"{key}.expected", output), "output_dtype": out_dtype}
    grad_args = differentiable_args(spec, call)
    if grad_args:
        grad_output = domains.grad_output(case.rng(1), output.shape, out_dtype)
        grads = quiet(getattr(reference, case.function + "_backward"), grad_output, *positional, **keywords)
        expected["grad_output"] = arrays.add(f"{key}.grad_output", grad_output, out_dtype)
        expected["gradients"] = {n: arrays.add(f"{key}.grad.{n}", np.asarray(grads[n], np.float64))
                                 for n in grad_args}
    entry["expected"] = expected
    n = terms(call)
    entry["tolerance"] = {"output": _tolerance(spec, out_dtype, n, overflow_ok(case)),
                          "gradients": _tolerance(spec, case.dtype, n, overflow_ok(case))}
    return entry, size


def _error_entry(instance, index, arrays):
    call = instance.call()
    key = f"e{index:03d}"
    entry = {"id": instance.id, "function": instance.function, "dtype": ERROR_DTYPE, "args": list(call.args),
             "positional": call.positional, "arrays": {}, "options": {}, "raises": instance.error.raises.__name__}
    for name, value in call.args.items():
        if isinstance(value, np.ndarray):
            floating = np.issubdtype(value.dtype, np.floating)
            entry["arrays"][name] = arrays.add(f"{key}.{name}", value, ERROR_DTYPE if floating else None)
        else:
            entry["options"][name] = _json_value(value)
    return entry


def _sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def _features(case):
    options = {name: case.option(name) for name in case.spec.options}
    return {("dtype", case.dtype), ("shape", case.shape), ("values", case.values)} | {
        (name, repr(value)) for name, value in options.items()}


def select(function, dtypes=DTYPES, max_elements=MAX_ELEMENTS, per_function=PER_FUNCTION):
    """The exported cases of ``function``, in generation order (see the module docstring)."""
    small = []
    for case in all_cases(functions=(function,), dtypes=dtypes):
        call = case.spec.sample(case.rng(), case)
        if sum(v.size for v in call.args.values() if isinstance(v, np.ndarray)) <= max_elements:
            small.append(case)
    chosen, covered = set(), set()
    for i, case in enumerate(small):
        new = _features(case) - covered
        if new:
            chosen.add(i)
            covered |= new
    rest = [i for i in range(len(small)) if i not in chosen]
    room = max(per_function - len(chosen), 0)
    if rest and room:
        step = max(len(rest) / room, 1.0)
        chosen |= {rest[int(j * step)] for j in range(min(room, len(rest)))}
    return [small[i] for i in sorted(chosen)]


def _write_manifest(path, manifest):
    """Readable JSON: the header indented, one line per case."""
    head = {k: v for k, v in manifest.items() if k not in ("cases", "errors")}
    text = json.dumps(head, indent=1, allow_nan=False)[:-2]
    for key in ("cases", "errors"):
        lines = ",\n".join("  " + json.dumps(e, separators=(",", ":"), allow_nan=False) for e in manifest[key])
        text += f',\n "{key}": [\n{lines}\n ]'
    publish.write_text(path, text + "\n}\n")


def export(out, dtypes=DTYPES, max_elements=MAX_ELEMENTS, functions=None, per_function=PER_FUNCTION):
    """Write the golden vectors under ``out``; returns the manifest (as written).

    Raises ``UsageError`` before writing anything for an unknown function or dtype, a
    selection without cases, or an ``out`` that cannot be written."""
    dtypes = parse_dtypes(",".join(dtypes))
    chosen = parse_functions(",".join(functions)) if functions is not None else tuple(REGISTRY)
    names = [n for n in REGISTRY if n in chosen]  # registry order, whatever order they were named in
    check_writable(out)
    selected = {name: select(name, dtypes, max_elements, per_function) for name in names}
    if not any(selected.values()):
        raise UsageError(f"no {' or '.join(dtypes)} case of the selected functions has at most {max_elements} "
                         f"numbers in its arguments (--max-elements); nothing to export")
    os.makedirs(out, exist_ok=True)
    cases, errors, files = [], [], {}
    for name in names:
        arrays = _Arrays(f"{name}.npz")
        for index, case in enumerate(selected[name]):
            entry, _ = _case_entry(case, index, arrays)
            cases.append(entry)
        for i in range(len(REGISTRY[name].errors)):
            errors.append(_error_entry(ErrorInstance(name, i), i, arrays))
        path = arrays.write(out)
        files[os.path.basename(path)] = {"sha256": _sha256(path), "bytes": os.path.getsize(path)}
    manifest = {
        "versions": _versions(),
        "generated_by": "python -m conformance export",
        "selection": {"dtypes": list(dtypes), "max_elements": max_elements, "per_function": per_function,
                      "functions": names,
                      "rule": "of the cases of these dtypes whose array arguments hold at most max_elements "
                              "numbers in all: first those covering a dtype, shape, value class or option "
                              "value no earlier case covers, then every k-th up to per_function; every "
                              "error case"},
        "tolerance_policy": POLICY,
        "tolerances": {d: {"rtol": t.rtol, "atol": t.atol, "reason": t.reason} for d, t in TOLERANCES.items()},
        "callables": CALLABLES,
        "files": files,
        "cases": cases,
        "errors": errors,
    }
    path = os.path.join(out, "manifest.json")
    _write_manifest(path, manifest)
    sums = {"manifest.json": _sha256(path), **{n: v["sha256"] for n, v in files.items()}}
    publish.write_text(os.path.join(out, "SHA256SUMS"), "".join(f"{d}  {name}\n" for name, d in sums.items()))
    return manifest


def main(argv=None):
    parser = options.Parser(prog="python -m conformance export", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", metavar="DIR", default=os.path.join("reports", "golden"),
                        help="directory to write (default reports/golden, which git ignores)")
    parser.add_argument("--dtype", default=",".join(DTYPES),
                        help=f"comma-separated case dtypes, of {', '.join(DTYPES)} (default both)")
    parser.add_argument("--max-elements", type=options.argument(options.number(int, minimum=1)), default=MAX_ELEMENTS,
                        help=f"leave out cases whose arrays hold more numbers than this (default {MAX_ELEMENTS})")
    parser.add_argument("--per-function", type=options.argument(options.number(int, minimum=1)), default=PER_FUNCTION,
                        help=f"at most this many cases per function beyond full coverage (default {PER_FUNCTION})")
    parser.add_argument("--function", metavar="NAME[,NAME...]",
                        help="exact registry names, comma-separated (default: all)")
    parser.add_argument("-k", dest="keyword", metavar="NAME[,NAME...]",
                        help="comma-separated function names, as --function; with both, the functions in both")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    functions = None
    # argparse's own wording, so that these read like every other usage error
    for option, text in (("--function", args.function), ("-k", args.keyword)):
        if text is not None:
            try:
                names = parse_functions(text)
            except UsageError as e:
                parser.error(f"argument {option}: {e}")
            functions = names if functions is None else tuple(n for n in functions if n in names)
    if functions == ():
        parser.error(f"argument -k: none of {args.keyword} is in --function {args.function}")
    try:
        dtypes = parse_dtypes(args.dtype)
    except UsageError as e:
        parser.error(f"argument --dtype: {e}")
    try:
        manifest = export(args.out, dtypes, args.max_elements, functions, args.per_function)
    except UsageError as e:
        parser.error(str(e))
    total = sum(v["bytes"] for v in manifest["files"].values()) + os.path.getsize(os.path.join(args.out,
                                                                                             "manifest.json"))
    print(f"wrote {len(manifest['cases'])} cases and {len(manifest['errors'])} error cases of "
          f"{len(manifest['selection']['functions'])} functions to {args.out} "
          f"({total / 1e6:.1f} MB, {time.perf_counter() - start:.0f} s)")
    return 0


# --- verify: can a downloaded set be trusted? ------------------------------------------------

_SUMS_LINE = re.compile(r"([0-9a-f]{64}) [ *](.+)")  # sha256sum's text and binary modes


def _read_sums(path, problems):
    sums = {}
    with open(path, errors="replace") as f:
        for number, line in enumerate(f.read().splitlines(), 1):
            match = _SUMS_LINE.fullmatch(line)
            if match:
                sums[match[2]] = match[1]
            elif line.strip():
                problems.append(f"SHA256SUMS line {number}: not '<sha256>  <file>': {line!r}")
    return sums


def _references(entry):
    """(what, reference) for every array of a manifest entry."""
    refs = [(f"argument {n!r}", r) for n, r in entry.get("arrays", {}).items()]
    expected = entry.get("expected", {})
    refs += [(what, expected[key]) for key, what in (("output", "expected output"), ("grad_output", "grad_output"))
             if key in expected]
    refs += [(f"expected gradient of {n!r}", r) for n, r in expected.get("gradients", {}).items()]
    return refs


def _check_files(directory, sums, files):
    """Problems of the files themselves: missing, changed, or listed nowhere."""
    problems, recorded = [], {}  # file -> {list: the sha256 it records}
    lists = [(label, names) for label, names in (("SHA256SUMS", sums), ("manifest.json", files)) if names is not None]
    for label, names in lists:
        for name, value in names.items():
            recorded.setdefault(name, {})[label] = value if label == "SHA256SUMS" else value.get("sha256")
    for name, by_list in recorded.items():
        path, labels = os.path.join(directory, name), " and ".join(by_list)
        plural = len(by_list) > 1
        if os.path.basename(name) != name:  # a list must not send the check outside the export
            problems.append(f"{labels} {'list' if plural else 'lists'} {name!r}, which is not a file name")
            continue
        if not os.path.isfile(path):
            problems.append(f"{name}: missing, but {labels} {'list' if plural else 'lists'} it")
            continue
        digest, wrong = _sha256(path), {}
        for label, value in by_list.items():
            if value != digest:
                wrong.setdefault(value, []).append(label)
        for value, labels in wrong.items():  # one line when both lists agree and the file does not
            problems.append(f"{name}: sha256 is {digest}, but {' and '.join(labels)} "
                            f"{'record' if len(labels) > 1 else 'records'} {value}")
        size = os.path.getsize(path)
        if name in (files or {}) and size != files[name].get("bytes"):
            problems.append(f"{name}: {size} bytes, but manifest.json records {files[name].get('bytes')}")
    if sums is not None and "manifest.json" not in sums:
        problems.append("manifest.json: not listed in SHA256SUMS")
    for name in sorted(n for n in os.listdir(directory) if n.endswith(".npz")):
        absent = [label for label, names in lists if name not in names]
        if absent:
            problems.append(f"{name}: not listed in {' or '.join(absent)}")
    return problems


def _check_arrays(directory, manifest):
    """Problems of the arrays the manifest references, and how many were checked."""
    problems, archives, checked = [], {}, 0
    try:
        for entry in manifest["cases"] + manifest.get("errors", []):
            for what, ref in _references(entry):
                file, key = ref["file"], ref["key"]
                where = f"{file}: {key} ({what} of {entry['id']})"
                if file not in manifest["files"] or os.path.basename(file) != file:
                    problems.append(f"{where}: {file} is not in manifest.json's files")
                    continue
                if file not in archives and not os.path.isfile(os.path.join(directory, file)):
                    archives[file] = None  # reported as missing by the file check
                if file not in archives:
                    try:
                        archives[file] = np.load(os.path.join(directory, file), allow_pickle=False)
                    except Exception as e:  # whatever a damaged file raises is the problem
                        archives[file] = None
                        problems.append(f"{file}: not a readable .npz ({type(e).__name__}: {e})")
                if archives[file] is None:
                    continue  # reported once, above
                if key not in archives[file].files:
                    problems.append(f"{where}: missing from the .npz")
                    continue
                try:
                    array = archives[file][key]
                except Exception as e:  # a changed byte fails the member's CRC or its .npy header
                    problems.append(f"{where}: not readable ({type(e).__name__}: {e})")
                    continue
                if list(array.shape) != ref["shape"]:
                    problems.append(f"{where}: shape {list(array.shape)}, but manifest.json records {ref['shape']}")
                if array.dtype.name != ref["dtype"]:
                    problems.append(f"{where}: dtype {array.dtype.name}, but manifest.json records {ref['dtype']}")
                checked += 1
    except (KeyError, TypeError, AttributeError) as e:
        problems.append(f"manifest.json: malformed entry ({type(e).__name__}: {e})")
    finally:
        for archive in archives.values():
            if archive is not None:
                archive.close()
    return problems, checked


def verify(directory):
    """Check the export in ``directory``; returns (problems, one-line summary), no problems if intact.

    Every file ``SHA256SUMS`` lists must be there with that sha256, every ``.npz`` with the
    sha256 and size ``manifest.json`` records, every ``.npz`` of the directory must be listed
    in both, and every array the manifest references must be in its ``.npz`` with the recorded shape and dtype."""
    problems = []
    sums_path = os.path.join(directory, "SHA256SUMS")
    sums = _read_sums(sums_path, problems) if os.path.isfile(sums_path) else None
    if sums is None:
        problems.append("SHA256SUMS: missing")
    try:
        with open(os.path.join(directory, "manifest.json")) as f:
            manifest = json.load(f)
    except FileNotFoundError:
        return problems + _check_files(directory, sums, None) + ["manifest.json: missing"], ""
    except (OSError, ValueError) as e:
        return problems + _check_files(directory, sums, None) + [f"manifest.json: not readable as JSON ({e})"], ""
    if not (isinstance(manifest, dict) and isinstance(manifest.get("files"), dict)
            and all(isinstance(info, dict) for info in manifest["files"].values())
            and isinstance(manifest.get("cases"), list)):
        return problems + _check_files(directory, sums, None) + [
            "manifest.json: not an export manifest (no 'files' or 'cases')"], ""
    versions = manifest.get("versions")
    version = versions.get("format") if isinstance(versions, dict) else None
    if version != FORMAT_VERSION:
        problems.append(f"manifest.json: format {version}, but this verifier reads format {FORMAT_VERSION}")
    problems += _check_files(directory, sums, manifest["files"])
    array_problems, arrays = _check_arrays(directory, manifest)
    files = len(set(sums or {}) | set(manifest["files"]))
    summary = (f"OK: {directory}: {files} files match SHA256SUMS and manifest.json; {arrays} arrays of "
               f"{len(manifest['cases'])} cases and {len(manifest.get('errors', []))} error cases have the "
               f"recorded shape and dtype")
    return problems + array_problems, summary


def verify_main(argv=None):
    """``python -m conformance verify DIR``: 0 and a one-line summary if the export is intact,
    else 1 and one line per problem."""
    parser = options.Parser(prog="python -m conformance verify",
                                     description="Check a golden-vector export against its SHA256SUMS and "
                                                 "manifest.json before trusting it.")
    parser.add_argument("directory", metavar="DIR", type=options.argument(options.input_directory),
                        help="the export's directory (with manifest.json)")
    args = parser.parse_args(argv)
    problems, summary = verify(args.directory)
    for problem in problems:
        print(problem)
    if not problems:
        print(summary)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
