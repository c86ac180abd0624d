"""``python -m conformance``, as the suite's own tests run it.

In this process (``conformance.__main__.main``): a subprocess would import torch twice, itself and
its worker's fork server, about 6 s of CPU before its first check, and the tests run it a few dozen
times. The checks still run in a worker process (the suite's isolation), so a target that crashes
or hangs cannot take the test process down. The tests that are about a process itself (Ctrl-C,
``pytest --pyargs`` from another directory, the shipped workflow's commands) start one, with
:func:`clean_environment`.
"""

import contextlib
import io
import os
import signal
import subprocess


def clean_environment(env=None):
    """This process's environment without the calling pytest's and the suite's own variables (a
    ``CONFORMANCE_*`` set by whoever runs the tests would change the run), plus ``env``."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "CONFORMANCE_"))}
    environment.update(env or {})
    return environment


def conformance(args, cwd, env=None):
    """The run ``python -m conformance ARGS`` in ``cwd`` with :func:`clean_environment`, as a
    ``subprocess.CompletedProcess`` (exit code, stdout, stderr)."""
    from conformance.__main__ import main

    args = [str(a) for a in args]
    saved_environment, saved_directory = dict(os.environ), os.getcwd()
    saved_interrupt = signal.getsignal(signal.SIGINT)  # a run started with SIGINT ignored installs its own
    environment, out, err = clean_environment(env), io.StringIO(), io.StringIO()
    os.environ.clear()
    os.environ.update(environment)
    try:
        os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(args)
            except SystemExit as exc:  # argparse's own usage errors
                code = exc.code
    finally:
        os.chdir(saved_directory)
        os.environ.clear()
        os.environ.update(saved_environment)
        signal.signal(signal.SIGINT, saved_interrupt)
    return subprocess.CompletedProcess(["python", "-m", "conformance", *args], code, out.getvalue(), err.getvalue())
