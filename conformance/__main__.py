"""``python -m conformance``: run the conformance suite and report on it.

Runs the generated cases through pytest (so ``-k``, ``-n`` and every pytest option work;
unknown options are passed on to pytest), shows pytest's progress, then prints one line per
function, dtype and device: passed, failed, skipped and strict-xfailed counts for the
forward, backward and error checks, and the worst error seen in ULPs of the dtype and in
relative terms. The same report is written as ``conformance.json`` (machine-readable, see
``conformance/report.py`` for its schema), ``conformance.md`` (for pull requests and issues)
and ``conformance.html`` (one self-contained page: the function x dtype matrix and every
failure's reproducer) under ``--report-dir`` (default ``reports/``).

Examples::

    python -m conformance                                  # torch.nn.functional on the CPU
    python -m conformance --target my_port.py -k cross_entropy
    python -m conformance --device all --dtype float32,bfloat16 -n 2
    python -m conformance --function nll_loss,cross_entropy  # exact function names
    python -m conformance export --out golden/                # golden vectors for any language
    python -m conformance verify golden/                      # an export against its checksums
"""

import argparse
import os
import sys
import time

import pytest

from . import report as reporting

TESTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "test_conformance.py")
CHECKS = reporting.CHECKS
Summary = reporting.Summary


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["export"]:  # python -m conformance export: the golden vectors
        from . import export

        return export.main(argv[1:])
    if argv[:1] == ["verify"]:  # python -m conformance verify DIR: an export against its checksums
        from . import export

        return export.verify_main(argv[1:])
    return run(argv)


def run(argv):
    parser = argparse.ArgumentParser(prog="python -m conformance", description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", default=os.environ.get("CONFORMANCE_TARGET", "torch.nn.functional"),
                        help="module name or .py file under test (default torch.nn.functional)")
    parser.add_argument("--device", default=os.environ.get("CONFORMANCE_DEVICE", "cpu"), choices=("cpu", "cuda", "all"))
    parser.add_argument("--dtype", default=os.environ.get("CONFORMANCE_DTYPE", "all"),
                        help="comma-separated dtypes (float64,float32,float16,bfloat16) or 'all'")
    parser.add_argument("--function", default=os.environ.get("CONFORMANCE_FUNCTION"),
                        help="check only these functions, by exact name: NAME[,NAME...]")
    parser.add_argument("-k", dest="keyword", help="select cases, as pytest -k: substrings of test names "
                                                   "(-k cross_entropy also selects binary_cross_entropy)")
    parser.add_argument("-n", dest="workers", help="pytest-xdist workers (e.g. 2 or auto)")
    parser.add_argument("--report-dir", default="reports",
                        help="where to write conformance.json, .md and .html (default reports/)")
    parser.add_argument("--json", default=None,
                        help="write the JSON report here instead of <report-dir>/conformance.json")
    args, extra = parser.parse_known_args(argv)

    pytest_args = [TESTS, "-q", "-p", "conformance.plugin", "-p", "conformance.report", "-p", "no:logging",
                   # -p (not plugins=[...]) so that xdist workers load the report hooks too; the module is
                   # already imported here, which makes pytest warn that it cannot rewrite its asserts.
                   "-W", "ignore::pytest.PytestAssertRewriteWarning",
                   "--no-header", f"--conformance-target={args.target}", f"--conformance-device={args.device}",
                   f"--conformance-dtype={args.dtype}", "-o", "console_output_style=count"]
    if args.function:
        pytest_args.append(f"--conformance-function={args.function}")
    if args.keyword:
        pytest_args += ["-k", args.keyword]
    if args.workers:
        pytest_args += ["-n", args.workers]
    summary = Summary(args.target)
    started_wall, started = time.time(), time.perf_counter()
    code = pytest.main(pytest_args + ["--tb=line", "-rN"] + extra, plugins=[summary])
    duration = time.perf_counter() - started
    if code in (pytest.ExitCode.USAGE_ERROR, pytest.ExitCode.INTERNAL_ERROR, pytest.ExitCode.INTERRUPTED):
        return int(code)

    writing = time.perf_counter()
    env = reporting.environment(args.target, args.device, args.dtype, args.keyword, args.workers, args.function)
    report = reporting.build(summary, env, duration, started_wall)
    print()
    print(reporting.render_text(report))
    totals = report["totals"]
    print(f"\n{report['environment']['checks']} checks: "
          + ", ".join(f"{n} {k}" for k, n in totals.items() if n)
          + f" in {duration:.1f} s; target {args.target}, torch {env['torch']}, numpy {env['numpy']}")
    if summary.failures:
        print(f"\n{len(summary.failures)} failed; the first ones:")
        for test in summary.failures[:10]:
            print("  " + test)
    paths = reporting.write(report, args.report_dir, args.json)
    print(f"report written to {', '.join(paths.values())} in {time.perf_counter() - writing:.2f} s")
    return int(code)


if __name__ == "__main__":
    sys.exit(main())
