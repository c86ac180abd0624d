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
    """torch.nn.functional with ``replacements`` (name -> function) patched in."""
    module = types.ModuleType("planted")
    module.__dict__.update({k: getattr(F, k) for k in dir(F) if not k.startswith("__")})
    module.__dict__.update(replacements)
    return TorchTarget(module, "planted:" + ",".join(sorted(replacements)))


def failures(target, function, checks=("forward", "backward", "error"), dtypes=("float64",)):
    """Ids and messages of the cases of ``function`` that fail against ``target``, leaving out
    the cases where torch itself is a known divergence (they fail without any planted fault)."""
    known = divergences.load()
    failed = []
    spec = REGISTRY[function]
    cases = generate(spec, dtypes=dtypes)
    for check in checks:
        if check == "error":
            items = [ErrorInstance(function, i) for i in range(len(spec.errors))]
            run = check_error
        else:
            items, run = cases, {"forward": check_forward, "backward": check_backward}[check]
        for item in items:
            if any(d.applies(check, item.id) for d in known):
                continue
            outcome = run(item, target)
            if outcome.status == "failed":
                failed.append((f"{check}: {item.id}", outcome.message))
    return failed
