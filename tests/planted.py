"""Planted faults: copies of torch.nn.functional with one function replaced by a wrong port.

A planted fault must make the suite fail; these helpers build such targets and run a
function's cases against them in-process (the same checks pytest runs).
"""

import types

import torch.nn.functional as F

from conformance import divergences
from conformance.cases import generate
from conformance.harness import ErrorInstance, check_backward, check_error, check_forward
from conformance.registry import REGISTRY
from conformance.targets import TorchTarget


def faulty_target(**replacements):
    """torch.nn.functional with ``replacements`` (name -> function) patched in: torch-derived, so
    torch's accuracy records (its half-precision rounding) apply to it as they do to torch."""
    module = types.ModuleType("planted")
    module.__dict__.update({k: getattr(F, k) for k in dir(F) if not k.startswith("__")})
    module.INHERITS_TORCH_DIVERGENCES = True
    module.__dict__.update(replacements)
    return TorchTarget(module, "planted:" + ",".join(sorted(replacements)))


def failures(target, function, checks=("forward", "backward", "error"), dtypes=("float64",), sizes=False):
    """Ids and messages of the cases of ``function`` that fail against ``target``, leaving out
    the cases where torch itself is a known divergence (an xfail record: they fail without any
    planted fault). ``sizes``: the size-regime cases (``conformance/sizes.py``) instead of the grid's
    others (``dtypes`` None: every dtype)."""
    known = divergences.for_function(function)  # a case looks only at its own function's records
    failed = []
    spec = REGISTRY[function]
    if sizes:
        cases = [c for c in generate(spec, dtypes=dtypes, sizes=True) if c.regime]
    else:
        cases = generate(spec, dtypes=dtypes)
    for check in checks:
        if check == "error":
            if sizes:
                continue
            items = [ErrorInstance(function, i) for i in range(len(spec.errors))]
            run = check_error
        else:
            items, run = cases, {"forward": check_forward, "backward": check_backward}[check]
        for item in items:
            record = divergences.first_applying(known, check, item.id)
            if record is not None and record.kind == "grid":
                continue
            outcome = run(item, target)
            if outcome.status == "failed":
                failed.append((f"{check}: {item.id}", outcome.message))
    return failed
