"""A port of softmax with one planted fault: it normalises over the last dimension
whatever ``dim`` says. Used by tests/test_harness.py through ``pytest --target``."""

import torch


def softmax(input, dim=None, _stacklevel=3, dtype=None):
    if dtype is not None:
        input = input.to(dtype)
    return torch.softmax(input, -1)
