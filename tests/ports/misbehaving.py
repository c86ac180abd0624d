"""A target that delegates to torch.nn.functional, except for one planted misbehaviour per function.

The hangs and crashes strike on every call, or, with ``MISBEHAVING_ONCE`` naming a directory, on
the first call of each function in the run only (a file there remembers it, across the worker
processes that a crash replaces), so that a run stays short. The side effects strike on every call.
The functions not named here are innocent and must pass whatever the others do. Used by
tests/test_verdict.py through ``python -m conformance --target``.
"""

import ctypes
import os
import signal
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F


def _strikes(input):
    directory = os.environ.get("MISBEHAVING_ONCE")
    if not directory:
        return True
    try:
        os.close(os.open(os.path.join(directory, sys._getframe(1).f_code.co_name), os.O_CREAT | os.O_EXCL))
    except FileExistsError:
        return False
    return True


def softmax(input, dim=None, _stacklevel=3, dtype=None):
    if _strikes(input):
        if os.environ.get("MISBEHAVING_HANGING"):  # tells a test that the hang has begun
            open(os.environ["MISBEHAVING_HANGING"], "w").close()
        time.sleep(10**6)  # a hang in Python
    return F.softmax(input, dim, _stacklevel, dtype)


def l1_loss(input, target, *args, **kwargs):
    if _strikes(input):
        ctypes.PyDLL(None).pause()  # a hang in native code that keeps the GIL: nothing in-process can stop it
    return F.l1_loss(input, target, *args, **kwargs)


def smooth_l1_loss(input, target, *args, **kwargs):
    if _strikes(input):
        ctypes.string_at(0)  # segmentation fault
    return F.smooth_l1_loss(input, target, *args, **kwargs)


def huber_loss(input, target, *args, **kwargs):
    if _strikes(input):
        os.abort()
    return F.huber_loss(input, target, *args, **kwargs)


def hinge_embedding_loss(input, target, *args, **kwargs):
    if _strikes(input):
        os.kill(os.getpid(), signal.SIGFPE)  # as a framework's integer division by zero raises it
    return F.hinge_embedding_loss(input, target, *args, **kwargs)


def margin_ranking_loss(input1, input2, target, *args, **kwargs):
    torch.set_grad_enabled(False)  # a side effect on every call: only this function may fail for it
    return F.margin_ranking_loss(input1, input2, target, *args, **kwargs)


def soft_margin_loss(input, target, *args, **kwargs):
    np.seterr(all="raise")  # a side effect on every call
    return F.soft_margin_loss(input, target, *args, **kwargs)


def cosine_embedding_loss(input1, input2, target, *args, **kwargs):
    return F.cosine_embedding_loss(input1, input2, target, *args, **kwargs).to("meta")


log_softmax = F.log_softmax  # innocent
mse_loss = F.mse_loss  # innocent
