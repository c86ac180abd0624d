"""The transforms a loss meets in training, checked like its first derivative: forward-mode AD
(``jvp``), the second derivative (``gradgrad``) and batching (``vmap``, with per-sample gradients
as ``vmap(grad(f))``). Each compares the target with an oracle that trusts neither the target nor
torch, only the reference's values and its hand-derived first derivative:

* ``jvp``: the tangent ``J v`` for a random tangent ``v`` of every differentiable argument,
  assembled exactly from the reference's vector-Jacobian product: row ``k`` of ``J`` is the
  reference's backward at ``grad_output = e_k``, so ``(J v)_k`` is the sum over the arguments of
  ``<backward(e_k), v>``, one reference backward per output element, in float64. That is exact up
  to float64 rounding, so it is compared element by element (a failure names the element), with
  the backward check's budget and a normwise floor of ``max_k sum |J_k| |v|``, the size of the
  terms the sum cancels. Where the loss itself is not finite (the mean over an all-ignored batch
  is 0/0), there is no tangent to check.
* ``gradgrad``: the double backward of gradient penalties and Hessian-vector products. With a
  random ``grad_output`` ``g`` and random weights ``w`` (one per differentiable argument), the
  target differentiates ``s = <w, dL/dx(g)>`` once more, with respect to every differentiable
  argument (``H w``, ``H`` the Hessian of ``<g, L>``) and to ``g`` itself (``J w``, assembled
  exactly as for ``jvp``). The oracle of ``H w`` is the directional derivative of the reference's
  first derivative along ``w``: Richardson's extrapolation of central differences in float64 with
  the steps ``h = STEP * max(1, |x|)`` and ``h/2``, whose error is ``O(h^4)`` and rounding's
  ``eps/h |dL/dx|``, some ``1e-10`` of the result. So the budget (``GRADGRAD_BUDGET``) is ``1e-7``
  of the result's largest element (or of ``|dL/dx| |w| / max(1, |x|)`` where that is larger) in
  float64, and ``2^10`` float32 units in float32; a wrong second-derivative formula errs by a
  factor of order one. A difference across a kink is no derivative, so the grid holds normal
  values only, and a case whose extrapolations from ``h, h/2`` and ``h/2, h/4`` disagree beyond
  the budget is "not smooth here": skipped with that reason, not judged.
* ``vmap``: the loss batched over a new leading dimension of three samples (the case's own and two
  more draws of it), batching every array argument, only the first argument, and only
  ``target`` (where the function has one), against the reference applied to each sample, with the
  forward check's budget; where the loss is a scalar, also ``vmap(grad(f))`` over every argument,
  the per-sample gradients of DP-SGD, against the reference's gradient of each sample. The
  samples differ, so a batching rule that mixes them fails.

A target runs a transform through its adapter (``ArrayAdapter.jvp``, ``gradgrad``, ``vmap`` and
``vmap_grad``); an adapter without one skips. What a target does not implement it declares as data
(``Target.unsupported_transform``: its module's ``UNSUPPORTED_TRANSFORMS``, and torch's own record
``unsupported_transforms.toml`` for the targets that inherit torch's known divergences); such a
check skips with the declared reason. An exception that is not declared fails the check, so a port
that raises ``NotImplementedError`` everywhere does not skip its way to a pass.
"""

import numpy as np

from . import domains, guard
from .adapters import Failure
from .compare import Tolerance, compare
from .dtypes import FORMATS
from .harness import (
    Outcome,
    arguments,
    by_name,
    differentiated_args,
    failure,
    output_dtype,
    prepare,
    read_back,
    reference_function,
    tolerance,
)

CHECKS = ("jvp", "gradgrad", "vmap")
WHAT = {"jvp": "forward-mode AD (jvp)", "gradgrad": "double backward", "vmap": "vmap"}
STEP = 2.0 ** -15  # the central differences' first step, relative to max(1, |x|); Richardson removes its h^2 term
GRADGRAD_BUDGET = {"float64": 1e-7, "float32": 2.0 ** 10 * FORMATS["float32"].unit_roundoff}
SAMPLES = 3  # the batch of the vmap check
MODES = ("all", "input", "target")


def _skipped(reason):
    return Outcome("skipped", reason)


def _start(case, target, check):
    """``(adapter, call, None)`` for a transform check that can run, else ``(None, None, skipped)``."""
    adapter, call, skipped = prepare(case, target)
    if skipped:
        return None, None, skipped
    declared = target.unsupported_transform(case.function, check)
    if declared:
        return None, None, _skipped(f"{WHAT[check]}: declared unsupported: {declared}")
    if check not in adapter.transforms:
        return None, None, _skipped(f"the adapter {adapter.name!r} has no {WHAT[check]} "
                                    f"(ArrayAdapter.{'vmap' if check == 'vmap' else check})")
    return adapter, call, None


def _start_differentiating(case, target, check):
    """``(adapter, call, the arguments differentiated, None)``, else ``(..., skipped Outcome)``."""
    adapter, call, skipped = _start(case, target, check)
    if skipped:
        return None, None, (), skipped
    names = differentiated_args(case, call, target)
    if not names:
        return None, None, (), _skipped("no differentiable argument in this case")
    return adapter, call, names, None


def _ported(case, call, target):
    """The target's function, called as the forward check calls it, with the first
    ``call.positional`` arguments by position, though the adapter's transforms pass every argument
    by name (``torch._refs``' softmax names its input ``a``, not ``input``)."""
    fn = target.port(case.function, call)
    leading = list(call.args)[:call.positional]

    def called(**values):
        positional = [values.pop(name) for name in leading]
        return fn(*positional, **values)

    return called


def _raised(exc, what, case, call, check, target):
    text = str(exc) if isinstance(exc, Failure) else f"{what} raised {type(exc).__name__}: {exc}"
    hint = (f" (a target that does not implement {WHAT[check]} for {case.function} declares it: "
            "UNSUPPORTED_TRANSFORMS)")
    return Outcome("failed", failure([text + hint], case, call, check, target))


def _reference(case, call, backward=False, grad_output=None):
    positional, keywords = call.split()
    if backward:
        return guard.quiet(reference_function(case.function, True), grad_output, *positional, **keywords)
    return guard.quiet(reference_function(case.function), *positional, **keywords)


def _random(rng, like, dtype):
    """Random normal values shaped like ``like``, exactly representable in ``dtype``."""
    return domains.real(rng, np.shape(like), dtype)


def _jacobian(case, call, names):
    """The rows of the reference's Jacobian, one ``{name: row}`` per output element (in C order):
    row ``k`` is the reference's backward at ``grad_output = e_k``."""
    shape = np.shape(_reference(case, call))
    rows = []
    for k in np.ndindex(*shape):
        unit = np.zeros(shape)
        unit[k] = 1.0
        row = _reference(case, call, backward=True, grad_output=unit)
        rows.append({n: np.asarray(row[n], dtype=np.float64) for n in names})
    return shape, rows


def _finite_directions(rows, direction):
    """``direction`` zeroed where some row of the Jacobian is not finite: along such an element the
    derivative has no finite product to check (it is the backward check's NaN or inf, as torch's
    backward has it)."""
    return {n: np.where(np.all([np.isfinite(r[n]) for r in rows], axis=0), v, 0.0) if rows else v
            for n, v in direction.items()}


def _product(shape, rows, direction):
    """``(J v, floor)``: ``J v`` from the rows, and ``max_k sum |J_k| |v|``, the size of the terms
    its elements cancel."""
    def terms(r, n, v):  # an element the direction leaves out adds nothing, even where r is not finite
        return np.where(v != 0, r[n] * v, 0.0)

    product = np.array([sum(float(np.sum(terms(r, n, v))) for n, v in direction.items()) for r in rows])
    size = np.array([sum(float(np.sum(np.abs(terms(r, n, v)))) for n, v in direction.items()) for r in rows])
    return product.reshape(shape), float(np.max(size, initial=0.0))


def _where_defined(case, call, values):
    """``values`` (shaped like the loss) with 0 where the reference's loss is not finite: a NaN loss
    (the mean over an all-ignored batch, 0/0) has no tangent to check; the forward check holds it."""
    return np.where(np.isfinite(_reference(case, call)), values, 0.0)


def _within(values, expected, case, target, floor, what, budget=None):
    """``compare`` with the backward budget (or ``budget``, relative and normwise) and ``floor``."""
    base = tolerance(case, case.dtype, target, "backward")
    rtol, atol = (base.rtol, base.atol) if budget is None else (budget, budget)
    held = Tolerance(rtol, atol, f"{what} (conformance/transforms.py)", floor=floor, systematic=None)
    return compare(values, expected, case.dtype, held, terms=None if budget else terms_of(case), what=what)


def terms_of(case):
    return max(1, int(np.prod(case.shape)))


# --- jvp ---------------------------------------------------------------------------------------


def check_jvp(case, target):
    """The tangent of the loss for a random tangent of every differentiable argument."""
    adapter, call, names, skipped = _start_differentiating(case, target, "jvp")
    if skipped:
        return skipped
    rng = case.rng(2)
    shape, rows = _jacobian(case, call, names)
    tangents = _finite_directions(rows, {n: _random(rng, call.args[n], case.dtype) for n in names})
    args, kwargs = arguments(adapter, call, case.dtype)
    values = by_name(call, args, kwargs)
    fn = _ported(case, call, target)
    try:
        tangent = guard.in_target(adapter.jvp, fn, values, {n: adapter.asarray(tangents[n], case.dtype)
                                                            for n in names})
    except Exception as exc:
        return _raised(exc, "jvp", case, call, "jvp", target)
    expected, floor = _product(shape, rows, tangents)
    problems = adapter.result_problems(tangent, output_dtype(case, call), what="tangent")
    if problems:
        return Outcome("failed", failure(problems, case, call, "jvp", target))
    actual, unreadable = read_back(adapter, tangent, "tangent")
    if unreadable:
        return Outcome("failed", failure([unreadable], case, call, "jvp", target))
    result = _within(_where_defined(case, call, actual), _where_defined(case, call, expected), case, target, floor,
                     "tangent")
    if not result.ok:
        return Outcome("failed", failure([result.message, "tangents: random normal"], case, call, "jvp", target),
                       result.max_ulp, result.max_rel)
    return Outcome("passed", "", result.max_ulp, result.max_rel, result.used)


# --- gradgrad ----------------------------------------------------------------------------------


def _directional(case, call, names, grad_output, weights, step):
    """The central difference of the reference's first derivative along ``weights``, contracted with
    the weights: ``d/dt <w, dL/dx(x + t w)>`` at ``t = 0``, for every differentiable argument."""
    def first(t):
        moved = dict(call.args)
        for n in names:
            moved[n] = np.asarray(call.args[n] + t * weights[n])
        grads = _reference(case, type(call)(moved, call.positional), backward=True, grad_output=grad_output)
        return grads

    plus, minus = first(step), first(-step)
    return {n: (plus[n] - minus[n]) / (2 * step) for n in names}


def _hessian_product(case, call, names, grad_output, weights):
    """``(H w, size, finite, None)``, or ``(None, None, None, why not)``: the derivative of the reference's first
    derivative along ``weights``, by Richardson's extrapolation of central differences with steps
    ``h`` and ``h/2`` (error ``O(h^4)``), checked against the same with ``h/2`` and ``h/4``: where they
    disagree beyond the float64 budget a kink or a singularity lies within ``h``, and the case has
    no oracle. ``size`` is ``|dL/dx| |w| / max(1, |x|)``, the normwise floor. Elements where the first
    derivative itself is not finite (``finite`` says where it is) are compared as 0: the backward
    check holds them."""
    scale = max(1.0, *(float(np.max(np.abs(call.args[n]), initial=0.0)) for n in names))
    step = STEP * scale
    try:
        quotients = [_directional(case, call, names, grad_output, weights, step / 2 ** i) for i in range(3)]
    except (ValueError, RuntimeError) as exc:
        # The report counts skips by reason: these reasons carry no numbers, so each is one line.
        return None, None, None, (f"the point is within the step of the edge of the domain of {case.function} (the "
                                  f"reference raised {type(exc).__name__}), so no difference quotient")
    first = _reference(case, call, backward=True, grad_output=grad_output)
    finite = {n: np.isfinite(first[n]) for n in names}
    size = max(float(np.max(np.abs(np.where(finite[n], first[n], 0.0)), initial=0.0))
               * float(np.max(np.abs(weights[n]), initial=0.0)) for n in names) / scale
    expected = {}
    for n in names:
        coarse, fine, finer = (np.where(finite[n], q[n], 0.0) for q in quotients)
        estimate, check = (4 * fine - coarse) / 3, (4 * finer - fine) / 3
        if not (np.all(np.isfinite(estimate)) and np.all(np.isfinite(check))):
            return None, None, None, (f"the reference's derivative of {n} is not finite within the step of this "
                                      "point: no difference quotient")
        gap = float(np.max(np.abs(estimate - check), initial=0.0))
        if gap > GRADGRAD_BUDGET["float64"] * max(size, float(np.max(np.abs(check), initial=0.0))):
            return None, None, None, (f"not smooth here: the reference's extrapolated difference quotients of {n} "
                                      "disagree beyond the budget (a kink or a singularity within the step), so no "
                                      "oracle")
        expected[n] = check
    return expected, size, finite, None


def _read_zero_or_array(adapter, value, shape, dtype, what, problems):
    """The float64 values of a derivative the target returned (``None``: zeros of ``shape``), or
    None with the reason appended to ``problems``."""
    if value is None:
        return np.zeros(shape)
    mine = adapter.result_problems(value, dtype, what=what)
    actual, unreadable = (None, None) if mine else read_back(adapter, value, what)
    problems += mine or ([unreadable] if unreadable else [])
    return actual


def check_gradgrad(case, target):
    """The second derivative: ``d<w, dL/dx(g)>/dx`` (a Hessian-vector product) and ``/dg``."""
    adapter, call, names, skipped = _start_differentiating(case, target, "gradgrad")
    if skipped:
        return skipped
    out_dtype = output_dtype(case, call)
    shape, rows = _jacobian(case, call, names)
    grad_output = domains.grad_output(case.rng(1), shape, out_dtype)
    rng = case.rng(3)
    weights = _finite_directions(rows, {n: _random(rng, call.args[n], case.dtype) for n in names})
    expected, size, finite, unjudged = _hessian_product(case, call, names, grad_output, weights)
    if unjudged and len(names) > 1:
        # An argument at the edge of its domain (a BCE target of exactly 0 or 1) cannot move both
        # ways: the first argument moves alone, the others' weights are 0.
        weights = {n: (w if n == names[0] else np.zeros_like(w)) for n, w in weights.items()}
        expected, size, finite, unjudged = _hessian_product(case, call, names, grad_output, weights)
    if unjudged:
        return _skipped(unjudged)
    budget = GRADGRAD_BUDGET[case.dtype]
    args, kwargs = arguments(adapter, call, case.dtype, watched=names)
    values = by_name(call, args, kwargs)
    fn = _ported(case, call, target)
    try:
        second, of_grad_output = guard.in_target(
            adapter.gradgrad, fn, values, names, adapter.asarray(grad_output, out_dtype),
            {n: adapter.asarray(weights[n], case.dtype) for n in names})
    except Exception as exc:
        return _raised(exc, "double backward", case, call, "gradgrad", target)
    problems = []
    worst_ulp = worst_rel = used = 0.0
    for n in names:
        actual = _read_zero_or_array(adapter, second.get(n), np.shape(call.args[n]), case.dtype,
                                     f"second derivative of {n}", problems)
        if actual is None:
            continue
        result = _within(np.where(finite[n], actual, 0.0), expected[n], case, target, size,
                         f"d<w, grad of {n}>/d{n}", budget)
        worst_ulp, worst_rel, used = max(worst_ulp, result.max_ulp), max(worst_rel, result.max_rel), \
            max(used, result.used)
        if not result.ok:
            problems.append(result.message)
    expected, floor = _product(shape, rows, weights)
    actual = _read_zero_or_array(adapter, of_grad_output, shape, out_dtype, "d<w, grad>/dgrad_output", problems)
    if actual is not None:
        result = _within(_where_defined(case, call, actual), _where_defined(case, call, expected), case, target,
                         floor, "d<w, grad>/dgrad_output")
        if not result.ok:
            problems.append(result.message)
    if problems:
        problems.append("grad_output and w: random normal (w one per differentiable argument)")
        return Outcome("failed", failure(problems, case, call, "gradgrad", target), worst_ulp, worst_rel)
    return Outcome("passed", "", worst_ulp, worst_rel, used)


# --- vmap --------------------------------------------------------------------------------------


def _samples(case, call):
    """The case's call and two more draws of it (same shapes and options, other values)."""
    return [call] + [case.spec.sample(case.rng(10 + j), case) for j in range(1, SAMPLES)]


def _batched(mode, call):
    """The argument names ``mode`` batches (empty: the mode does not apply to this function)."""
    arrays = [n for n, v in call.args.items() if isinstance(v, np.ndarray)]
    if mode == "all":
        return tuple(arrays)
    if mode == "input":
        return tuple(arrays[:1])
    return ("target",) if "target" in arrays else ()


def _stacked(samples, batched):
    """One call: the ``batched`` arguments stacked over the samples, the rest the first sample's."""
    first = samples[0]
    args = dict(first.args)
    for n in batched:
        args[n] = np.stack([s.args[n] for s in samples])
    return type(first)(args, first.positional)


def _per_sample(samples, batched):
    """The calls the reference sees, one per sample: its batched arguments, the first sample's others."""
    return [type(s)({n: (s.args[n] if n in batched else samples[0].args[n]) for n in s.args}, s.positional)
            for s in samples]


def check_vmap(case, target):
    """``vmap(f)`` batching every argument, only the input, only the target; ``vmap(grad(f))``."""
    adapter, call, skipped = _start(case, target, "vmap")
    if skipped:
        return skipped
    samples = _samples(case, call)
    shapes = [{n: np.shape(v) for n, v in s.args.items() if isinstance(v, np.ndarray)} for s in samples]
    if any(s != shapes[0] for s in shapes[1:]):
        return _skipped("the case's draws differ in shape: no batch of them")
    out_dtype = output_dtype(case, call)
    fn = _ported(case, call, target)
    problems = []
    worst_ulp = worst_rel = used = 0.0
    for mode in MODES:
        batched = _batched(mode, call)
        if not batched or (mode != "all" and batched == _batched("all", call)):
            continue
        calls = _per_sample(samples, batched)
        expected = np.stack([_reference(case, c) for c in calls])
        args, kwargs = arguments(adapter, _stacked(samples, batched), case.dtype)
        what = f"vmap over {', '.join(batched)}"
        try:
            out = guard.in_target(adapter.vmap, fn, by_name(call, args, kwargs), batched)
        except Exception as exc:
            return _raised(exc, what, case, call, "vmap", target)
        mine = adapter.result_problems(out, out_dtype, what=what)
        if mine:
            problems += mine
            continue
        actual, unreadable = read_back(adapter, out, what)
        if unreadable:
            problems.append(unreadable)
            continue
        result = compare(actual, expected, out_dtype, tolerance(case, out_dtype, target), terms=terms_of(case),
                         what=what)
        worst_ulp, worst_rel, used = max(worst_ulp, result.max_ulp), max(worst_rel, result.max_rel), \
            max(used, result.used)
        if not result.ok:
            problems.append(result.message)
    names = differentiated_args(case, call, target)
    if names and np.shape(_reference(case, call)) == () and not problems:
        batched = _batched("all", call)
        args, kwargs = arguments(adapter, _stacked(samples, batched), case.dtype)
        try:
            grads = guard.in_target(adapter.vmap_grad, fn, by_name(call, args, kwargs), batched, names)
        except Exception as exc:
            return _raised(exc, "vmap(grad)", case, call, "vmap", target)
        one = np.array(1.0)
        per_sample = [_reference(case, c, backward=True, grad_output=one) for c in samples]
        for n in names:
            what = f"vmap(grad) of {n}"
            got = grads.get(n) if isinstance(grads, dict) else None
            if got is None:
                problems.append(f"{what}: not returned")
                continue
            mine = adapter.result_problems(got, case.dtype, what=what)
            actual, unreadable = (None, None) if mine else read_back(adapter, got, what)
            if mine or unreadable:
                problems += mine or [unreadable]
                continue
            expected = np.stack([g[n] for g in per_sample])
            result = compare(actual, expected, case.dtype, tolerance(case, case.dtype, target, "backward"),
                             terms=terms_of(case), what=what)
            if not result.ok:
                problems.append(result.message)
    if problems:
        problems.append(f"the batch: the case's own values and {SAMPLES - 1} more draws of it, stacked on a new "
                        "first dimension")
        return Outcome("failed", failure(problems, case, call, "vmap", target), worst_ulp, worst_rel)
    return Outcome("passed", "", worst_ulp, worst_rel, used)

