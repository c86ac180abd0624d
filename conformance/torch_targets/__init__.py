"""torch's own backends as conformance targets: ``--target conformance.torch_targets.<name>``.

========================================  =========================================================
``conformance.torch_targets.compiled``    every function of ``torch.nn.functional`` through
                                          ``torch.compile`` (inductor, on the case's device),
                                          ``dynamic=False``: one graph per shape, dtype and option
``...torch_targets.compiled_dynamic``     the same with ``dynamic=True`` (symbolic sizes; sizes 0
                                          and 1 are still specialized, as torch always does)
``conformance.torch_targets.refs``        ``torch._refs.nn.functional`` (the Python references
                                          behind torch's decompositions), re-exported
========================================  =========================================================

Each module is a plain torch target (torch tensors in and out), so the suite runs the same
cases, forward, backward and error checks on it as on eager ``torch.nn.functional``.

**No silent eager fallback.** Dynamo gives up on a function after ``recompile_limit`` graphs
(8 by default) and from then on runs it *eagerly*, with one log line: on a grid of hundreds of
shapes per function that would check eager torch under the compiled target's name, a false
pass. A :class:`CompiledFunction` therefore (1) raises the limits for its calls (an entry per
shape is what ``dynamic=False`` means), (2) sets ``fail_on_recompile_limit_hit`` so that
Dynamo raises instead of falling back should the limit still be reached, and (3) checks every
call: its backend wraps inductor's compiled graph in a counter, and a call that returned
without running a compiled graph of its own (the limit, a frame Dynamo skips, a function Dynamo
traced to no graph) raises :class:`EagerFallback`, which fails the case. A call that raises is
re-raised as it is when Dynamo traced it (an error of the compiled function) and turned into
:class:`EagerFallback` when Dynamo never looked at it. ``tests/test_torch_targets.py`` plants
a limit of 1 with Dynamo's own guard turned off and checks that the next shape fails.

**Inherited divergences.** A torch-derived target declares ``INHERITS_TORCH_DIVERGENCES =
True``: torch's known eager divergences (``conformance/known_divergences/``) apply to it too, as
xfails, so that it is not failed for torch's own documented defects, and never hidden (an
xfail is counted and shown). A port written from the spec does not declare it and is held to
the documented value. ``KNOWN_DIVERGENCES`` names a directory of further records, in the
format of ``known_divergences/*.toml`` (``conformance.divergences.load(directory)`` reads it),
that hold for that target only, e.g. ``torch.compile``'s wrong ``multilabel_margin_loss``
(pytorch#141017).
"""

import inspect
import os

import torch

RECOMPILE_LIMIT = 1 << 20  # graphs per function: one per shape, dtype and option is the point of dynamic=False
DIVERGENCES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "divergences")


class EagerFallback(Exception):
    """``torch.compile`` ran a call without compiled code (Dynamo fell back to eager): the call
    checks nothing about the compiled target, so it fails the case. Not a RuntimeError, ValueError
    or IndexError, so that no error check takes it for the exception it expects."""


def functions():
    """The registry's function names that ``torch.nn.functional`` has."""
    from ..registry import REGISTRY

    return [name for name in REGISTRY if callable(getattr(torch.nn.functional, name, None))]


def _dynamo_frames():
    from torch._dynamo.utils import counters

    return sum(counters["frames"].values())


def _limit_hits():
    from torch._dynamo.utils import counters

    return sum(n for reason, n in counters["unimplemented"].items() if "recompile limit" in reason.lower()
               or "recompile_limit" in reason)


class _CountingInductor:
    """inductor (as ``torch.compile(backend="inductor")`` builds it), with every compiled graph
    wrapped so that running it is counted in ``owner.runs``."""

    compiler_name = "inductor"

    def __init__(self, owner, dynamic):
        self.owner = owner
        self.inductor = torch._TorchCompileInductorWrapper(None, None, dynamic)

    def __call__(self, graph, example_inputs):
        compiled = self.inductor(graph, example_inputs)
        owner = self.owner

        def run(*args):
            owner.runs += 1
            return compiled(*args)

        return run

    def get_compiler_config(self):
        return self.inductor.get_compiler_config()

    def reset(self):
        return self.inductor.reset()


class CompiledFunction:
    """``torch.compile(getattr(torch.nn.functional, name), dynamic=dynamic)`` on inductor, that
    raises :class:`EagerFallback` for a call that ran no compiled graph (see the module docstring).

    ``recompile_limit`` and ``fail_on_recompile_limit_hit`` are Dynamo's settings for the calls of
    this function (the defaults keep Dynamo from ever reaching its limit); tests lower them to
    plant a fallback."""

    def __init__(self, name, dynamic=False, fullgraph=False, recompile_limit=RECOMPILE_LIMIT,
                 fail_on_recompile_limit_hit=True):
        self.__name__ = self.__qualname__ = name
        self.eager = getattr(torch.nn.functional, name)
        self.__doc__ = f"torch.compile(F.{name}, dynamic={dynamic}, fullgraph={fullgraph}) on inductor"
        self.runs = 0  # compiled graphs run (all calls)
        self.settings = {"recompile_limit": recompile_limit, "accumulated_recompile_limit": recompile_limit,
                         "fail_on_recompile_limit_hit": fail_on_recompile_limit_hit}
        self.compiled = torch.compile(self.eager, backend=_CountingInductor(self, dynamic), dynamic=dynamic,
                                      fullgraph=fullgraph)

    def __call__(self, *args, **kwargs):
        import torch._dynamo

        runs, frames, hits = self.runs, _dynamo_frames(), _limit_hits()
        with torch._dynamo.config.patch(**self.settings):
            try:
                out = self.compiled(*args, **kwargs)
            except EagerFallback:
                raise
            except Exception as exc:
                why = self._fallback(runs, frames, hits, raised=True, call=(args, kwargs))
                if why:
                    raise EagerFallback(f"{why}; it raised {type(exc).__name__}: {exc}") from exc
                raise  # an error of the compiled function, met while tracing or running it
        why = self._fallback(runs, frames, hits, raised=False)
        if why:
            raise EagerFallback(f"{why}, so its result is eager torch's, not the compiled target's")
        return out

    def _fallback(self, runs, frames, hits, raised, call=((), {})):
        """Why the call just made ran no compiled code of its own, or None."""
        name = f"F.{self.__name__}"
        if _limit_hits() > hits:
            return f"Dynamo reached its recompile limit for {name} and compiled nothing for this call"
        if self.runs > runs:
            return None
        if _dynamo_frames() == frames and raised and not self._binds(*call):
            return None  # a call that Python refuses before any frame runs, compiled or not
        if _dynamo_frames() == frames:  # Dynamo never looked at the call: a skipped code object
            return (f"torch.compile ran {name} eagerly: Dynamo skipped the frame (a recompile limit reached "
                    f"before, or a skip rule)")
        if not raised:
            return f"torch.compile ran {name} eagerly: Dynamo traced it to no graph"
        return None

    def _binds(self, args, kwargs):
        try:
            inspect.signature(self.eager).bind(*args, **kwargs)
        except TypeError:
            return False
        return True

    def __repr__(self):
        return f"<{self.__doc__}>"


# What torch.compile (2.13) does not do, for every function: the transform checks of the compiled
# targets skip with these reasons (docs/transforms.md), and tests/test_torch_targets.py requires each
# to fail without its declaration, so that torch.compile gaining one shows up.
COMPILED_TRANSFORMS_REASONS = {
    "jvp": "torch.compile runs a compiled function called inside torch.func.jvp eagerly (Dynamo traces no "
           "graph under the transform): there is no compiled forward-mode AD to check",
    "gradgrad": "torch.compile with aot_autograd does not support double backward (RuntimeError)",
    "vmap": "torch.compile runs a compiled function called inside torch.func.vmap eagerly (Dynamo skips the "
            "frame under the transform): there is no compiled batching rule to check",
}


def compiled_unsupported_transforms():
    """``UNSUPPORTED_TRANSFORMS`` of the compiled targets: every transform of every function."""
    return {name: dict(COMPILED_TRANSFORMS_REASONS) for name in functions()}


def compiled_functions(dynamic, **settings):
    """``{name: CompiledFunction}`` for every registry function torch.nn.functional has."""
    return {name: CompiledFunction(name, dynamic=dynamic, **settings) for name in functions()}
