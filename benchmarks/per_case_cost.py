"""Cost of one conformance case against pytest's own floor, measured in the same run.

    python benchmarks/per_case_cost.py                 # the ratio, from two wall times
    python benchmarks/per_case_cost.py --profile cross_entropy   # and where one function's time goes

Runs, one after the other in fresh processes with the same options, (1) a module of ``--trivial``
parametrized tests that do nothing, and (2) the conformance cases (``pytest --pyargs
conformance.test_conformance``), and prints the seconds per test of each and their ratio: what a
conformance case costs in units of a pytest case that does nothing. With ``--profile FUNCTION`` it
also profiles the test process on that function's cases and prints the top entries by own time, so
pytest's overhead (hooks, fixtures, reporting) can be told from the checks' own work (which runs in
the worker process under ``--isolation process``; profile with ``--isolation none`` to see it).
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

TRIVIAL = '''
import pytest


@pytest.mark.parametrize("case", range({n}), ids=lambda i: f"case({{i}})")
def test_trivial(case):
    assert case >= 0
'''


def _pytest(args, cwd):
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:logging", *args],
                            cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - started
    last = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    counted = sum(int(n) for n in re.findall(r"(\d+) (?:passed|failed|skipped|xfailed|xpassed)", last))
    return wall, counted, last


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trivial", type=int, default=20000, help="trivial tests (default 20000)")
    parser.add_argument("--profile", metavar="FUNCTION", help="also profile the test process on this function")
    parser.add_argument("pytest_args", nargs="*", help="passed to the conformance run (e.g. --isolation none)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as directory:
        with open(os.path.join(directory, "test_trivial.py"), "w") as f:
            f.write(TRIVIAL.format(n=args.trivial))
        trivial = _pytest(["test_trivial.py"], directory)
        conformance = _pytest(["--pyargs", "conformance.test_conformance", *args.pytest_args], directory)
        rows = [("trivial", *trivial), ("conformance", *conformance)]
        for name, wall, counted, last in rows:
            print(f"{name:12} {counted:6d} tests in {wall:7.1f} s wall: {1e3 * wall / max(counted, 1):.3f} ms per test"
                  f"   ({last})")
        per = [wall / max(counted, 1) for _, wall, counted, _ in rows]
        print(f"ratio: a conformance case costs {per[1] / per[0]:.2f} trivial pytest cases")
        if args.profile:
            output = os.path.join(directory, "profile.out")
            subprocess.run([sys.executable, "-m", "cProfile", "-o", output, "-m", "pytest", "-q",
                            "-p", "no:cacheprovider", "--pyargs", "conformance.test_conformance",
                            f"--conformance-function={args.profile}", *args.pytest_args],
                           cwd=directory, capture_output=True)
            import pstats

            pstats.Stats(output).sort_stats("tottime").print_stats(30)


if __name__ == "__main__":
    main()
