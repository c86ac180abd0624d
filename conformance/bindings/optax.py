"""torch.nn.functional's losses as optax computes them (``optax.losses.*``, with ``jax.nn`` for
softmax/log_softmax): a table of argument mappings, run by the suite as an array target::

    pip install "torch-loss-conformance[optax]"
    python -m conformance --target conformance.bindings.optax --function cross_entropy

Gradients are jax.vjp's. What optax does not provide (class weights, ignore_index, label
smoothing, torch's weighted or per-length means) is skipped as "not provided by target".
"""

import jax.numpy as jnp
import numpy as np

from ._jax import JaxAdapter
from ._shared import Unmapped, bind, class_axis, is_floating, padded_targets, softmax_axis, table, unbatched, unit_axis

# Read from this source by conformance.bindings.bindings() (without importing it): the packages this
# binding imports (installed by the extra [optax]), and what it is, for the targets' list.
REQUIRES = ("optax", "jax")
SUMMARY = "optax.losses, through jax"

ADAPTER = JaxAdapter("optax")


def _classes_last(x):
    return jnp.moveaxis(x, class_axis(x), -1)


def _probs_classes_last(target):
    """Probability targets have the input's layout; index targets have no class axis."""
    return _classes_last(target) if is_floating(target) else target


def _ctc_labels(values):
    return padded_targets(np, values["targets"], values["target_lengths"])


def _labels(values):
    """torch's CTC targets (padded, concatenated or unbatched) as optax's padded labels."""
    return jnp.asarray(_ctc_labels(values)[0])


def _logit_paddings(values):
    """torch's ``input_lengths`` as optax's paddings: 1.0 on the frames past each length."""
    lengths = np.asarray(values["input_lengths"]).reshape(-1)
    frames = np.arange(values["log_probs"].shape[0])
    return jnp.asarray(frames[None, :] >= lengths[:, None], dtype=values["log_probs"].dtype)


def _label_paddings(values):
    labels, lengths = _ctc_labels(values)
    return jnp.asarray(np.arange(labels.shape[1])[None, :] >= lengths[:, None], dtype=values["log_probs"].dtype)


def _kl_variant(values):
    return f"log_target={values.get('log_target', False)}"  # an error case may leave it out


def _batch_first(log_probs):
    return jnp.swapaxes(log_probs, 0, 1) if log_probs.ndim == 3 else log_probs[None]


MAPPING = {
    "softmax": bind("jax.nn.softmax", drop={"dtype": None},
                       fixed={"axis": softmax_axis}, consumed=("dim",),
                       note="jax.nn, not optax: optax has no softmax"),
    "log_softmax": bind("jax.nn.log_softmax", drop={"dtype": None},
                           fixed={"axis": softmax_axis}, consumed=("dim",),
                           note="jax.nn, not optax"),
    "cross_entropy": bind(
        {"index targets": "optax.losses.softmax_cross_entropy_with_integer_labels",
         "probability targets": "optax.losses.softmax_cross_entropy"},
        choose=lambda v: "probability targets" if is_floating(v["target"]) else "index targets",
        rename={"input": "logits", "target": "labels"},
        convert={"input": _classes_last, "target": _probs_classes_last},
        drop={"weight": None, "ignore_index": -100, "label_smoothing": 0.0}, reduced=True,
        note="class axis moved last"),
    "binary_cross_entropy_with_logits": bind(
        "optax.losses.sigmoid_binary_cross_entropy", rename={"input": "logits", "target": "labels"},
        drop={"weight": None, "pos_weight": None}, reduced=True),
    "ctc_loss": bind(
        "optax.losses.ctc_loss", rename={"log_probs": "logits", "blank": "blank_id"},
        convert={"log_probs": _batch_first},
        fixed={"logit_paddings": _logit_paddings, "labels": _labels,
               "label_paddings": _label_paddings},
        consumed=("targets", "input_lengths", "target_lengths"), positional=("logits",),
        drop={"zero_infinity": False}, only={"reduction": ("none", "sum")}, reduced=True,
        result=unbatched,
        note="time axis moved after the batch axis; lengths given as paddings; optax normalizes its "
             "input (logits), torch takes log-probabilities as given"),
    "kl_div": bind(
        {"log_target=False": "optax.losses.kl_divergence",
         "log_target=True": "optax.losses.kl_divergence_with_log_targets"},
        choose=_kl_variant,
        rename={"input": "log_predictions", "target": "targets"}, consumed=("log_target",),
        convert={"input": unit_axis, "target": unit_axis},
        positional=("log_predictions", "targets"), reduced=True,
        note="a unit axis appended, so optax's sum over the last axis keeps per-element terms; "
             "'batchmean' is not a plain mean and skips"),
    "huber_loss": bind("optax.losses.huber_loss", rename={"input": "predictions", "target": "targets"},
                          drop={"weight": None}, reduced=True),
    "smooth_l1_loss": bind("optax.losses.huber_loss", rename={"input": "predictions", "target": "targets"},
                              drop={"beta": 1.0}, reduced=True,
                              note="smooth_l1 with beta=1 is huber with delta=1; other betas skip"),
    "triplet_margin_loss": bind(
        "optax.losses.triplet_margin_loss", rename={"anchor": "anchors", "positive": "positives",
                                                    "negative": "negatives", "p": "norm_degree"},
        drop={"swap": False}, reduced=True),
    "nll_loss": Unmapped("optax has no negative log-likelihood over log-probabilities"),
    "binary_cross_entropy": Unmapped("optax has binary cross-entropy over logits only "
                                     "(sigmoid_binary_cross_entropy), not over probabilities"),
    "soft_margin_loss": Unmapped("optax has no soft margin loss (log(1 + exp(-y x)))"),
    "multilabel_soft_margin_loss": Unmapped("optax has no multilabel soft margin loss (a class-mean of "
                                            "sigmoid cross-entropies would be loss code)"),
    "multi_margin_loss": Unmapped("optax.losses.multiclass_hinge_loss is the Crammer-Singer hinge "
                                  "(max over classes), not torch's sum over classes"),
    "multilabel_margin_loss": Unmapped("optax has no multilabel margin loss"),
    "hinge_embedding_loss": Unmapped("optax.losses.hinge_loss is max(0, 1 - y x), not torch's "
                                     "x for y = 1, max(0, margin - x) for y = -1"),
    "margin_ranking_loss": Unmapped("optax has no margin ranking loss"),
    "cosine_embedding_loss": Unmapped("optax.losses.cosine_distance is 1 - cos for every pair; torch's "
                                      "loss for y = -1 (max(0, cos - margin)) is not provided"),
    "poisson_nll_loss": Unmapped("optax has no Poisson negative log-likelihood"),
    "gaussian_nll_loss": Unmapped("optax has no Gaussian negative log-likelihood"),
    "mse_loss": bind("optax.losses.squared_error", rename={"input": "predictions", "target": "targets"},
                        drop={"weight": None}, reduced=True),
    "l1_loss": Unmapped("optax has no absolute error loss"),
    "triplet_margin_with_distance_loss": Unmapped("optax's triplet_margin_loss takes a norm degree, "
                                                  "not a distance function"),
}

ARGUMENTS, _functions = table(MAPPING)
globals().update(_functions)
