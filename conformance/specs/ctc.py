"""ctc_loss.

Shapes are ``log_probs`` shapes, ``(T, N, C)`` or unbatched ``(T, C)``, kept small
(T <= 12, C <= 5). Per case the sampler draws target lengths in ``[0, min(4, T // 2)]``
and input lengths in ``[1, T]`` (the first sample uses all T frames); the first target
repeats its first label when it has two (a blank must separate them), the labels include
both ends of the label range, and with N >= 3 the last sample gets one frame fewer than
its alignment needs, so its loss is inf (0 with ``zero_infinity=True``).

Value classes: ``normal`` (log-softmax of normal logits), ``unnormalized`` (raw logits:
torch does not normalize, and there its gradient convention differs most from the true
gradient), ``peaky`` (log-softmax of logits times 30, log-probabilities down to about
-300: a probability-space recursion underflows).
"""

import numpy as np

from .. import domains
from ..compare import Tolerance
from ..dtypes import FORMATS, round_to
from ..registry import Call, ErrorCase, Gen, ShapeDependent, Spec
from ..sizes import Size

REDUCTIONS = ("mean", "sum", "none")

SHAPES = ((6, 1, 3), (8, 3, 4), (12, 4, 5), (7, 2, 2), (1, 2, 3), (5, 3), (10, 4))

LAST = ShapeDependent("last", lambda shape: shape[-1] - 1)  # blank = C - 1


def _log_probs(rng, shape, dtype, values):
    logits = rng.standard_normal(shape) * (30.0 if values == "peaky" else 2.0)
    if values != "unnormalized":
        logits = logits - np.max(logits, axis=-1, keepdims=True)
        logits = logits - np.log(np.sum(np.exp(logits), axis=-1, keepdims=True))
    return round_to(logits, dtype)


def _needed(target):
    """Frames an alignment of ``target`` needs: one per label, one more per repeat."""
    return len(target) + sum(1 for a, b in zip(target[:-1], target[1:], strict=True) if a == b)


def _sample(rng, case):
    shape = case.shape
    unbatched = len(shape) == 2
    n_frames, n_classes = shape[0], shape[-1]
    n = 1 if unbatched else shape[1]
    blank = case.option("blank")
    labels = np.array([c for c in range(n_classes) if c != blank])
    # up to 4 labels at the grid's T <= 12; about T / 10 (tens of labels) at the size regime's hundreds
    s_max = max(1, min(max(4, n_frames // 10), n_frames // 2))
    tl = rng.integers(0, s_max + 1, size=n)
    il = rng.integers(1, n_frames + 1, size=n)
    il[0] = n_frames
    targets = [rng.choice(labels, size=k) for k in tl]
    if tl[0] >= 2:
        targets[0][1] = targets[0][0]
    if tl[0] >= 1:
        targets[0][-1] = labels[-1]
    if n >= 2 and tl[1] >= 1:
        targets[1][0] = labels[0]
    for i in range(n):
        il[i] = max(il[i], min(_needed(targets[i]), n_frames))  # feasible unless planted below
    if n >= 3 and _needed(targets[-1]) >= 1:
        il[-1] = _needed(targets[-1]) - 1
    layout = case.option("targets").name
    if unbatched:
        target = targets[0].astype(np.int64)
    elif layout == "concatenated":
        target = np.concatenate(targets).astype(np.int64)
    else:
        target = rng.choice(labels, size=(n, s_max))  # padding past each length is never read
        for i, t in enumerate(targets):
            target[i, :len(t)] = t
        target = target.astype(np.int32 if layout == "int32" else np.int64)
    if case.option("lengths").name == "tuple":
        input_lengths, target_lengths = tuple(int(v) for v in il), tuple(int(v) for v in tl)
    elif unbatched:
        input_lengths, target_lengths = np.array(il[0]), np.array(tl[0])
    else:
        input_lengths, target_lengths = il, tl
    return Call({"log_probs": _log_probs(rng, shape, case.dtype, case.values), "targets": target,
                 "input_lengths": input_lengths, "target_lengths": target_lengths, "blank": blank,
                 "reduction": case.option("reduction"), "zero_infinity": case.option("zero_infinity")},
                positional=4)


def _x(rng, *shape):
    return domains.log_probabilities(rng, shape, "float32", axis=-1)


def _t(*values, dtype=np.int64):
    return np.array(values, dtype=dtype)


def _call(log_probs, targets, input_lengths, target_lengths, **options):
    return Call({"log_probs": log_probs, "targets": targets, "input_lengths": input_lengths,
                 "target_lengths": target_lengths, **options}, positional=4)


def _ok(rng, **changes):
    """A valid (T=6, N=2, C=4) call with one argument replaced."""
    args = {"log_probs": _x(rng, 6, 2, 4), "targets": _t([1, 2, 3], [3, 1, 0]),
            "input_lengths": _t(6, 5), "target_lengths": _t(3, 2)}
    args.update(changes)
    return _call(**args)


ERRORS = (
    ErrorCase("(6, 2, 4), reduction='avg'", lambda r: _ok(r, reduction="avg"), ValueError),
    ErrorCase("(6, 2, 4), blank=4", lambda r: _ok(r, blank=4), RuntimeError),
    ErrorCase("(6, 2, 4), blank=-1", lambda r: _ok(r, blank=-1), RuntimeError),
    ErrorCase("(6, 2, 4), input_lengths=[7, 5]", lambda r: _ok(r, input_lengths=_t(7, 5)), RuntimeError),
    ErrorCase("(6, 2, 4), input_lengths=[-1, 5]", lambda r: _ok(r, input_lengths=_t(-1, 5)), RuntimeError),
    ErrorCase("(6, 2, 4), target_lengths=[-1, 2]", lambda r: _ok(r, target_lengths=_t(-1, 2)), RuntimeError),
    ErrorCase("(6, 2, 4), input_lengths=[6, 5, 4]", lambda r: _ok(r, input_lengths=_t(6, 5, 4)), RuntimeError),
    ErrorCase("(6, 2, 4), target_lengths=[3, 2, 1]", lambda r: _ok(r, target_lengths=_t(3, 2, 1)), RuntimeError),
    ErrorCase("(6, 2, 4), float input_lengths", lambda r: _ok(r, input_lengths=_t(6, 5, dtype=np.float64)),
              RuntimeError),
    ErrorCase("(6, 2, 4), input_lengths=6", lambda r: _ok(r, input_lengths=6, target_lengths=3), TypeError),
    ErrorCase("(6, 2, 4), padded targets (2, 2) for target_lengths [3, 2]",
              lambda r: _ok(r, targets=_t([1, 2], [3, 1])), RuntimeError),
    ErrorCase("(6, 2, 4), padded targets of batch 1", lambda r: _ok(r, targets=_t([1, 2, 3])), RuntimeError),
    ErrorCase("(6, 2, 4), concatenated targets of 4 for target_lengths [3, 2]",
              lambda r: _ok(r, targets=_t(1, 2, 3, 3)), RuntimeError),
    ErrorCase("(6, 4), targets of 2 for target_lengths 3",
              lambda r: _call(_x(r, 6, 4), _t(1, 2), (6,), (3,)), RuntimeError),
    ErrorCase("(0, 2, 4)", lambda r: _ok(r, log_probs=_x(r, 0, 2, 4), input_lengths=_t(0, 0)), RuntimeError),
    ErrorCase("(6, 0, 4)", lambda r: _call(_x(r, 6, 0, 4), np.zeros((0, 3), np.int64), _t(), _t()), RuntimeError),
    ErrorCase("(6, 2, 2, 4)", lambda r: _ok(r, log_probs=_x(r, 6, 2, 2, 4)), RuntimeError),
)

CTC_LOSS = Spec(
    name="ctc_loss",
    sample=_sample,
    shapes=SHAPES,
    # T in the hundreds with targets of about 30 labels (the recursions' long products in log space),
    # and 257 classes (the gradient's per-class sums past a 256-block)
    sizes=(Size("long sequence", ((300, 2, 6), (150, 2, 257)), why="T in the hundreds, targets of tens of labels"),),
    options={
        "reduction": REDUCTIONS,
        "blank": (0, LAST),
        "zero_infinity": (False, True),
        "targets": (Gen("padded"), Gen("concatenated"), Gen("int32")),
        "lengths": (Gen("int64"), Gen("tuple")),
    },
    dtypes=("float64", "float32"),  # torch: "ctc_loss_cpu" not implemented for 'Half' / 'BFloat16'
    values=("normal", "unnormalized", "peaky"),
    differentiable=("log_probs",),
    tolerances={"float32": Tolerance(
        1024 * FORMATS["float32"].unit_roundoff, 1024 * FORMATS["float32"].unit_roundoff,
        "torch's float32 kernel exponentiates log_alpha + log_beta + nll - log_probs, sums whose "
        "magnitude reaches a few hundred with peaky inputs (log-probabilities near -300) or over "
        "hundreds of frames: the exponent's absolute rounding error, and so the gradient's relative "
        "error, is that magnitude times u, and the recursion adds a rounding of that size per frame "
        "(about 750 u at T = 300); the same error of the sample's nll scales every gradient entry of "
        "the sample alike (a scale error: T = 300 gives 1.7e-4 in torch)", systematic=512)},
    errors=ERRORS,
    # unbatched targets have one layout: the padded/concatenated/int32 distinction is moot there
    valid=lambda case: not (len(case.shape) == 2 and case.option("targets").name != "padded"),
)

SPECS = (CTC_LOSS,)
