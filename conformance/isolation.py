"""Checks run where a target cannot take the run down with it.

The target lives in a worker process. The test process sends it one check at a time (the check's
name and the case's id) and waits for the :class:`~conformance.harness.Outcome`, at most the case
time limit. A hang inside native code (a C call that never returns, a mutex deadlock in an abort
handler) cannot be interrupted by anything running in the process that hangs; a segfault, an abort,
a SIGFPE or a CUDA device-side assert ends that process. So the test process decides: a worker
that does not answer in time is killed and the case is ``"timeout"``; a worker that dies is a
``"crashed"`` case, with the signal, the call, the rerun line and the last lines the worker wrote
(Python's faulthandler prints where it died). The next case starts a fresh worker, so a crash costs
one process start and everything else costs a message over a pipe.

On Linux a process start is a fork of a server process that imported torch and the suite once
(multiprocessing's forkserver), so a worker after a crash or a timeout is ready in milliseconds, not
in the seconds of importing torch again. The test process itself is never forked: its torch thread
pools and any CUDA context are in use. Elsewhere each worker is a fresh interpreter (spawn).
"""

import collections
import faulthandler
import multiprocessing
import multiprocessing.forkserver
import os
import signal
import sys
import tempfile
import time
import traceback
from types import SimpleNamespace

from . import checks
from .harness import Outcome

START_TIMEOUT = 120.0  # importing torch and a framework, loading the target
# A function that timed out this often has its further cases skipped as not run: each timeout costs
# the time limit and a process start, and a function that always hangs would take hours.
MAX_TIMEOUTS = 2
OUTPUT_SHOWN = 3000  # characters of the worker's output quoted after a crash
PRELOADED = ["torch", "conformance.checks", "conformance.targets"]  # imported once by the fork server


def _context():
    if sys.platform.startswith("linux"):
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(PRELOADED)  # read when the server starts, with the first worker
        return context
    return multiprocessing.get_context("spawn")


def _serve(connection, target_spec, base, log_path, environment):
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the test process's to handle
    os.environ.clear()  # the test process's environment now, not the fork server's when it started
    os.environ.update(environment)
    log = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    os.dup2(log, 1)
    os.dup2(log, 2)
    sys.stdout = os.fdopen(1, "w", buffering=1, closefd=False)
    sys.stderr = os.fdopen(2, "w", buffering=1, closefd=False)
    faulthandler.enable(file=sys.stderr, all_threads=True)
    import torch

    from .targets import load

    torch.set_num_threads(1)  # tiny cases: threads only add overhead and oversubscribe parallel workers
    try:
        target = load(target_spec, base)
    except Exception as exc:
        connection.send(("error", f"{type(exc).__name__}: {exc}"))
        return
    adapter = getattr(target, "adapter", None)
    connection.send(("ready", (target.name, None if adapter is None else (adapter.name, tuple(adapter.dtype_names)))))
    while True:
        request = connection.recv()
        if request is None:
            return
        check, key = request
        try:
            item = checks.find(check, key) if isinstance(key, str) else key
        except Exception:  # the suite's defect, not the target's: never reported as a crash
            connection.send(Outcome("error", f"the worker cannot find {key}:\n{traceback.format_exc()}"))
            continue
        sys.stdout.write(f"{MARK}{check} {item.id}\n")  # line-buffered: in the log before the check runs
        connection.send(checks.run_check(check, item, target))


MARK = "\x1e--- "  # starts the worker's output for one request, so a crash quotes only its own


class Isolated:
    """Runs checks in a worker process holding the target; see the module docstring.

    Requests are pipelined: :meth:`expect` tells which checks come next (the run's order), and up to
    ``depth`` of them are sent ahead, so the worker computes while pytest does its bookkeeping for
    the test before. The worker answers in order, so the first unanswered request is the one it is
    working on: that is the case a timeout or a crash is charged to, and the others are sent again
    to the fresh worker."""

    def __init__(self, target_spec, base=None, timeout=60.0, depth=8):
        self.target_spec, self.base, self.timeout, self.depth = target_spec, base, timeout, depth
        self.process = self.connection = self.info = None
        self.log = tempfile.NamedTemporaryFile(prefix="conformance-worker-", suffix=".log", delete=False)
        self.log.close()
        self.loading = False  # launched, and not yet heard from
        self.timeouts = {}  # function -> cases that timed out
        self.upcoming, self.position = [], {}  # the run's (check, item) in order; key -> index
        self.sent = collections.deque()  # (key, check, item) sent and not answered, in order
        self.answers = {}  # key -> Outcome received ahead of its test
        self.started = 0.0  # when the worker began the head of ``sent``, at the latest

    def expect(self, checks):
        """The (check, item) pairs the run will ask for, in order (for sending ahead)."""
        self.upcoming = list(checks)
        self.position = {_key(check, item): i for i, (check, item) in enumerate(self.upcoming)}

    def launch(self):
        """Start what the worker needs without waiting for it: with spawn the worker itself, with the
        fork server the server (the worker is forked when the first check needs it); either way
        torch is imported while pytest collects, and :meth:`run` waits for it."""
        if self.process is not None:
            return
        context = _context()
        if context.get_start_method() == "forkserver":
            multiprocessing.forkserver.ensure_running()  # returns at once; Process.start would wait
        else:
            self._begin(context)

    def _begin(self, context):
        self.connection, child = context.Pipe()
        self.process = context.Process(target=_serve, args=(child, self.target_spec, self.base, self.log.name,
                                                            dict(os.environ)),
                                       daemon=True, name="conformance-target")
        self.process.start()
        child.close()
        self.loading = True

    def _start(self):
        if self.process is not None and not self.loading:  # a worker that died: reap it, start another
            self._reap()
        if self.process is None:
            self._begin(_context())
        self.loading = False
        if not self.connection.poll(START_TIMEOUT):
            self.stop()
            raise RuntimeError(f"the worker holding the target did not start within {START_TIMEOUT:.0f} s")
        try:
            kind, value = self.connection.recv()
        except EOFError:
            code = self._reap()
            raise RuntimeError(f"the worker holding the target {_death(code)} while loading it") from None
        if kind == "error":
            self.stop()
            raise RuntimeError(f"the worker could not load the target: {value}")
        name, adapter = value
        self.info = SimpleNamespace(name=name, adapter=None if adapter is None else
                                    SimpleNamespace(name=adapter[0], dtype_names=adapter[1]))

    def _send(self, check, item):
        if self.process is None or self.loading or not self.process.is_alive():
            self._start()
        if not self.sent:
            self.started = time.monotonic()
        self.connection.send((check, item.id))
        self.sent.append((_key(check, item), check, item))

    def _send_ahead(self, key):
        index = self.position.get(key)
        if index is None:
            return
        waiting = {k for k, _, _ in self.sent} | set(self.answers)
        for check, item in self.upcoming[index + 1: index + 1 + self.depth]:
            if len(self.sent) > self.depth:
                break
            other = _key(check, item)
            if other not in waiting and self.timeouts.get(item.function, 0) < MAX_TIMEOUTS:
                self._send(check, item)

    def run(self, check, item):
        """The outcome of ``check`` (forward, backward or error) on ``item`` (a case or an error instance)."""
        key = _key(check, item)
        timeouts = self.timeouts.get(item.function, 0)
        if timeouts >= MAX_TIMEOUTS and key not in self.answers:
            self._forget(key)
            return Outcome("skipped", f"not run: {item.function} timed out in {timeouts} cases already "
                                      "(those cases fail the run)")
        if key not in self.answers and all(k != key for k, _, _ in self.sent):
            self._send(check, item)
        self._send_ahead(key)
        while key not in self.answers:
            self._receive()
        return self.answers.pop(key)

    def _forget(self, key):
        self.answers.pop(key, None)

    def _receive(self):
        """Wait for the answer to the head of ``sent``; a timeout or a crash answers it instead."""
        head_key, check, item = self.sent[0]
        remaining = self.started + self.timeout - time.monotonic()
        if not self.connection.poll(max(remaining, 0.0)):
            self.stop()
            self.timeouts[item.function] = self.timeouts.get(item.function, 0) + 1
            self._lose(head_key, "timeout", f"timed out after {self.timeout:g} s", check, item)
            return
        try:
            outcome = self.connection.recv()
        except (EOFError, OSError):
            elapsed = time.monotonic() - self.started
            self._lose(head_key, "crashed", f"target {_death(self._reap())} after {elapsed:.2f} s", check, item)
            return
        self.sent.popleft()
        self.started = time.monotonic()
        self.answers[head_key] = outcome

    def _lose(self, key, status, what, check, item):
        """Answer the head request with ``status``; the requests behind it go to the next worker."""
        self.sent.clear()  # the worker is gone: nothing sent to it will be answered
        output = _own_output(self.log.name, key)
        message = f"{what} in {item.id}\n{checks.reproduction(check, item, self.info)}"
        if output:
            message += f"\nlast output of the worker:\n{output[-OUTPUT_SHOWN:]}"
        self.answers[key] = Outcome(status, message)

    def _reap(self):
        self.process.join(5)
        code = self.process.exitcode
        self.process = None
        return code

    def stop(self):
        self.loading = False
        if self.process is not None:
            if self.process.is_alive():
                self.process.kill()
            self._reap()

    def close(self):
        if self.process is not None and self.process.is_alive():
            try:
                self.connection.send(None)
            except OSError:
                pass
        self.stop()
        os.unlink(self.log.name)


def _key(check, item):
    return f"{check} {item.id}"


def _own_output(path, key):
    """What the worker wrote after it began the request ``key``."""
    with open(path, "rb") as f:
        f.seek(max(os.path.getsize(path) - 10**6, 0))
        text = f.read().decode(errors="replace")
    start = text.rfind(MARK + key + "\n")
    return text[start + len(MARK) + len(key) + 1:].strip() if start >= 0 else ""


def _death(exitcode):
    if exitcode is None:
        return "did not exit"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = "unknown signal"
        return f"crashed (signal {-exitcode}, {name})"
    return f"exited with code {exitcode}"


class InProcess:
    """The same checks in the test process itself (``--isolation none``): for debuggers."""

    def __init__(self, target):
        self.target = target

    def run(self, check, item):
        return checks.run_check(check, item, self.target)

    def close(self):
        pass
