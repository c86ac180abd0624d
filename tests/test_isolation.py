"""The worker that holds the target (conformance/isolation.py): on Linux it is forked from a server
that imported torch once, so it must still take the test process's environment as it is when the
worker starts, not as it was when the server started; and a worker that crashed is replaced."""

import os
import textwrap

from conformance.cases import find
from conformance.isolation import Isolated

CASE = find("mse_loss(float32, (4, 5))")

PORT = textwrap.dedent('''\
    import os
    import signal

    import torch.nn.functional as F


    def mse_loss(input, target, *args, **kwargs):
        if os.environ.get("PLANTED_MODE") == "crash":
            os.kill(os.getpid(), signal.SIGSEGV)
        scale = 2.0 if os.environ.get("PLANTED_MODE") == "double" else 1.0
        return scale * F.mse_loss(input, target, *args, **kwargs)
    ''')


def _run(port):
    runner = Isolated(str(port), timeout=60.0)
    try:
        return runner.run("forward", CASE)
    finally:
        runner.close()


def test_a_worker_takes_the_environment_of_the_test_process_when_it_starts(tmp_path, monkeypatch):
    port = tmp_path / "port.py"
    port.write_text(PORT)
    monkeypatch.delenv("PLANTED_MODE", raising=False)
    assert _run(port).status == "passed"  # the fork server (Linux) starts here, without PLANTED_MODE
    monkeypatch.setenv("PLANTED_MODE", "double")
    outcome = _run(port)
    assert outcome.status == "failed" and "but should be" in outcome.message, outcome.message


def test_a_crashed_worker_is_replaced_for_the_next_check(tmp_path, monkeypatch):
    port = tmp_path / "port.py"
    port.write_text(PORT)
    monkeypatch.setenv("PLANTED_MODE", "crash")
    runner = Isolated(str(port), timeout=60.0)
    try:
        crashed = runner.run("forward", CASE)
        assert crashed.status == "crashed" and "SIGSEGV" in crashed.message, crashed.message
        os.environ["PLANTED_MODE"] = "none"  # monkeypatch puts it back
        assert runner.run("backward", CASE).status == "passed"
    finally:
        runner.close()
