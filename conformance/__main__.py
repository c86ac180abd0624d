"""``python -m conformance``: run the conformance suite and report on it.

Runs the generated cases through pytest (so ``-k``, ``-n`` and every pytest option work;
unknown options are passed on to pytest), shows pytest's progress, then prints one line per
function, dtype and device: passed, failed, skipped and strict-xfailed counts for the
forward, backward, error and transform checks, and the worst error seen in ULPs of the dtype and in
relative terms. The same report is written as ``conformance.json`` (machine-readable, see
docs/report.md for its schema), ``conformance.md`` (for pull requests and issues)
and ``conformance.html`` (one self-contained page: the function x dtype matrix and every
failure's reproducer) under ``--report-dir`` (default ``reports/``).

Exit codes: 0 every check that ran passed (at least one); 1 a check failed, timed out, crashed or
errored; 2 interrupted (the partial report is written); 3 internal error; 4 usage error (a bad option,
a target that cannot be loaded, a report directory that cannot be written); 5 nothing was checked
(nothing selected, or every check skipped); 6 (merge) incomplete: a shard is missing or was interrupted.
The report is written in every case but 3 and 4.

Examples::

    python -m conformance                                  # torch.nn.functional on the CPU
    python -m conformance --target my_port.py -k cross_entropy
    python -m conformance --device all --dtype float32,bfloat16 -n 2
    python -m conformance --function nll_loss,cross_entropy  # exact function names
    python -m conformance --profile scale                    # production shapes (minutes, < 16 GiB)
    python -m conformance export --out golden/                # golden vectors for any language
    python -m conformance verify golden/                      # an export against its checksums
    python -m conformance --target my_port.py --baseline known.json   # fail only on a regression
    python -m conformance diff old.json new.json              # which checks changed status
    python -m conformance --shard 2/3 --report-dir r2         # shard 2 of 3 (one job of a CI matrix)
    python -m conformance merge r1/conformance.json r2/conformance.json r3/conformance.json --out merged
    python -m conformance targets                             # the shipped targets, and which can run here
    python -m conformance matrix --dtype float32              # every target, one process each: docs/compat/
"""

import os
import signal
import sys
import time

import pytest

from . import options
from . import report as reporting

TESTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "test_conformance.py")
CHECKS = reporting.CHECKS
Summary = reporting.Summary


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["export"]:  # python -m conformance export: the golden vectors
        from . import export

        return export.main(argv[1:])
    if argv[:1] in (["targets"], ["matrix"]):  # the shipped targets; the compatibility matrix
        from . import matrix

        return (matrix.targets_main if argv[0] == "targets" else matrix.matrix_main)(argv[1:])
    if argv[:1] == ["diff"]:  # python -m conformance diff OLD.json NEW.json
        from . import baseline

        return baseline.main(argv[1:])
    if argv[:1] == ["merge"]:  # python -m conformance merge REPORT... --out DIR: the shards' reports as one
        from . import merge

        return merge.main(argv[1:])
    if argv[:1] == ["verify"]:  # python -m conformance verify DIR: an export against its checksums
        from . import export

        return export.verify_main(argv[1:])
    return run(argv)


def run(argv):
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        # Started with SIGINT ignored (a shell's background job inherits that): a SIGINT sent on
        # purpose (``kill -INT``, the matrix's budget) still interrupts the run and writes the partial report.
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        args, extra, values = parse_run(argv)
        reporting.check_writable(args.report_dir, args.json)
    except options.UsageError as exc:  # before the run, not after it
        return options.usage_error(exc)
    except OSError as exc:
        return options.usage_error(f"--report-dir {args.report_dir!r}{' / --json' if args.json else ''}: {exc}")
    base = values.pop("baseline")
    pytest_args = pytest_arguments(args)
    summary = Summary(args.target)
    started_wall, started = time.time(), time.perf_counter()
    code = pytest.main(pytest_args + ["--tb=line", "-rN"] + extra, plugins=[summary])
    duration = time.perf_counter() - started
    if code in (pytest.ExitCode.USAGE_ERROR, pytest.ExitCode.INTERNAL_ERROR):
        return int(code)

    writing = time.perf_counter()
    env = reporting.environment(args.target, args.device, args.dtype, args.keyword, args.workers, args.function,
                                args.profile, args.check, args.shard)
    report = reporting.build(summary, env, duration, started_wall,
                             interrupted=code == pytest.ExitCode.INTERRUPTED)
    if base is not None:
        from . import baseline

        baseline.apply(report, base, args.baseline)
    print()
    print(reporting.render_text(report))
    print(f"\ntarget {args.target}, torch {env['torch']}, numpy {env['numpy']}, {duration:.1f} s")
    print(reporting.render_verdict(report))
    paths = reporting.write(report, args.report_dir, args.json)
    print(f"report written to {', '.join(paths.values())} in {time.perf_counter() - writing:.2f} s")
    return report["verdict"]["exit_code"]


def pytest_arguments(args):
    """The pytest command line of a run (without pytest's own arguments passed through)."""
    arguments = [TESTS, "-q", "-p", "conformance.plugin", "-p", "no:logging",
                 # -p (not plugins=[...]) so that xdist workers load the plugin (and its report hook) too; the
                 # module is already imported here, which makes pytest warn that it cannot rewrite its asserts.
                 "-W", "ignore::pytest.PytestAssertRewriteWarning", "--no-header", "-o", "console_output_style=count"]
    # Every suite option is handed on as given or as its environment variable says (conformance/options.py).
    arguments += [f"--conformance-{o.name}={getattr(args, o.attribute)}" for o in options.SUITE
                  if getattr(args, o.attribute) is not None]
    if args.keyword:
        arguments += ["-k", args.keyword]
    if args.workers:
        arguments += ["-n", args.workers]
    return arguments


def parse_run(argv):
    """``(args, pytest's own arguments, checked values)`` of a run's command line; a
    :class:`conformance.options.UsageError` for a bad value (argparse's own errors exit 4)."""
    parser = options.Parser(prog="python -m conformance", description=__doc__.split("\n\n")[0])
    options.add_suite_options(parser)
    parser.add_argument("-k", dest="keyword", help="select cases, as pytest -k: substrings of test names "
                                                   "(-k cross_entropy also selects binary_cross_entropy)")
    parser.add_argument("-n", dest="workers", help="pytest-xdist workers: a count (0: none) or auto")
    parser.add_argument("--report-dir", default="reports",
                        help="where to write conformance.json, .md and .html (default reports/; created if missing)")
    parser.add_argument("--baseline", metavar="FILE",
                        help="an earlier conformance.json: the run fails only on checks that regressed from it")
    parser.add_argument("--json", default=None,
                        help="write the JSON report here instead of <report-dir>/conformance.json")
    args, extra = parser.parse_known_args(argv)
    values = options.checked(args)
    if args.workers is not None:
        args.workers = options.parse("-n", args.workers, options.workers)
    values["baseline"] = None if args.baseline is None else options.parse("--baseline", args.baseline, _baseline)
    return args, extra, values


def _baseline(path):
    """An earlier report, with a status for each of its checks."""
    from . import baseline

    report = options.json_file(path)
    if not isinstance(report, dict):
        raise ValueError("not a conformance report (a JSON object)")
    baseline.statuses(report)
    return report


if __name__ == "__main__":
    sys.exit(main())
