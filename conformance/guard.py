"""What a target may not change: global state, put back and named.

A target that changes state every later case depends on (grad mode, the default dtype or device,
deterministic algorithms, flush-denormal mode, anomaly detection, NumPy's error state) would make
the cases after it fail for no fault of their own. Every call into a target goes through
:func:`in_target`, which puts the state back at once and records what changed; the check that
made the call then fails, naming it (:func:`conformance.checks.run_check`).
"""

import warnings

import numpy as np
import torch


def quiet(fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` with warnings silenced (deprecation warnings are checked elsewhere)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def in_target(fn, *args, **kwargs):
    """Call into the target's code (its function, its adapter, autograd through its graph). Global
    state it changes is put back at once, so the suite's own work after the call runs as usual, and
    recorded, so that the check fails for it (:func:`changes`)."""
    before = state()
    try:
        return quiet(fn, *args, **kwargs)
    finally:
        _CHANGED.extend(put_back(before))


# Global state a target can change for the cases after it: name -> (read, put back).
_TINY = torch.tensor([1e-39], dtype=torch.float32)  # a float32 subnormal: zero under flush-denormal mode


def _deterministic():
    return torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()


GLOBAL_STATE = {
    "grad mode": (torch.is_grad_enabled, torch.set_grad_enabled),
    "default dtype": (torch.get_default_dtype, torch.set_default_dtype),
    "deterministic algorithms": (_deterministic, lambda v: torch.use_deterministic_algorithms(v[0], warn_only=v[1])),
    "flush-denormal mode": (lambda: bool(torch.mul(_TINY, 1.0).item() == 0.0), torch.set_flush_denormal),
    "anomaly detection": (torch.is_anomaly_enabled, torch.set_anomaly_enabled),
    "NumPy error state": (np.geterr, lambda v: np.seterr(**v)),
}
if hasattr(torch, "get_default_device"):  # torch >= 2.3
    GLOBAL_STATE["default device"] = (torch.get_default_device, torch.set_default_device)
_CHANGED = []  # what the target changed during the current check


def state():
    return {name: read() for name, (read, _) in GLOBAL_STATE.items()}


def put_back(before):
    """Restore the state ``before``; the changes found, as text."""
    changed = []
    for name, (read, restore) in GLOBAL_STATE.items():
        now = read()
        if now != before[name]:
            restore(before[name])
            changed.append(f"{name} {before[name]!r} -> {now!r}")
    return changed


def begin():
    """The state before a check: forget the changes recorded so far."""
    _CHANGED.clear()
    return state()


def changes(before):
    """What the target changed since :func:`begin` returned ``before`` (put back), without repeats."""
    return list(dict.fromkeys(_CHANGED + put_back(before)))
