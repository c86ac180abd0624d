"""torch.nn.functional's losses as Keras 3 computes them (``keras.ops.*`` and ``keras.losses.*``),
on its JAX backend (gradients through jax.vjp) or, with ``KERAS_BACKEND=numpy`` set before the
first import of keras, its NumPy backend (forward and error checks only: no gradients)::

    pip install "torch-loss-conformance[keras]"
    python -m conformance --target conformance.bindings.keras --function cross_entropy

``keras.losses.mean_squared_error`` and its kind reduce the last axis (the features of a
sample); the binding appends a unit axis, so that mean is over one element and the result is
torch's per-element loss, reduced by the shared plain sum/mean.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")  # read once, at keras's first import

import keras  # noqa: E402
import numpy as np  # noqa: E402

from ..adapters import NumpyAdapter  # noqa: E402
from ._shared import (  # noqa: E402
    Unmapped,
    bind,
    class_axis,
    is_floating,
    padded_targets,
    softmax_axis,
    table,
    unbatched,
    unit_axis,
)

# Read from this source by conformance.bindings.bindings() (without importing it): the packages this
# binding imports (installed by the extra [keras]), and what it is, for the targets' list.
REQUIRES = ("keras", "jax")
SUMMARY = "Keras 3 losses and ops on its JAX backend"

BACKEND = keras.backend.backend()
if BACKEND == "jax":
    from ._jax import JaxAdapter

    ADAPTER = JaxAdapter("keras[jax]")
elif BACKEND == "numpy":
    ADAPTER = NumpyAdapter()
    ADAPTER.name = "keras[numpy]"
else:
    raise ImportError(f"conformance.bindings.keras runs on Keras's jax or numpy backend, not {BACKEND!r}: "
                      "set KERAS_BACKEND before keras is first imported")


def _classes_last(x):
    return keras.ops.moveaxis(x, class_axis(x), -1)


def _target(values):
    """torch's CTC targets (padded, concatenated or unbatched) as keras's padded ``(N, S)``."""
    return padded_targets(np, values["targets"], values["target_lengths"])[0]


def _target_length(values):
    return padded_targets(np, values["targets"], values["target_lengths"])[1]


def _output_length(values):
    return np.asarray(values["input_lengths"]).reshape(-1)


def _probs_classes_last(target):
    """Probability targets have the input's layout; index targets have no class axis."""
    return _classes_last(target) if is_floating(target) else target


def _batch_first(log_probs):
    return keras.ops.swapaxes(log_probs, 0, 1) if log_probs.ndim == 3 else log_probs[None]


def _per_element(name):
    def arrange(values):
        shape = np.broadcast_shapes(values["input"].shape, values["target"].shape)
        return unit_axis(keras.ops.broadcast_to(values[name], shape))

    arrange.__name__ = f"{name}_per_element"
    arrange.__doc__ = (f"torch's {name} broadcast to the shape of input and target together, then a unit axis "
                       "appended: keras matches ranks by squeezing a trailing unit axis, so a lower-rank "
                       "argument would be misaligned")
    return arrange


PER_ELEMENT = {"fixed": {"y_pred": _per_element("input"), "y_true": _per_element("target")},
               "consumed": ("input", "target")}
ELEMENTWISE = ("input and target broadcast together and a unit axis appended, so the mean over the last axis "
               "keeps per-element losses")

MAPPING = {
    "softmax": bind("keras.ops.softmax", drop={"dtype": None}, consumed=("dim",),
                    fixed={"axis": softmax_axis}, rename={"input": "x"}),
    "log_softmax": bind("keras.ops.log_softmax", drop={"dtype": None}, consumed=("dim",),
                        fixed={"axis": softmax_axis}, rename={"input": "x"}),
    "cross_entropy": bind(
        {"index targets": "keras.ops.sparse_categorical_crossentropy",
         "probability targets": "keras.ops.categorical_crossentropy"},
        choose=lambda v: "probability targets" if is_floating(v["target"]) else "index targets",
        rename={"input": "output"}, positional=("target", "output"), fixed={"from_logits": True},
        convert={"input": _classes_last, "target": _probs_classes_last},
        drop={"weight": None, "ignore_index": -100, "label_smoothing": 0.0}, reduced=True,
        note="from_logits=True; class axis moved last"),
    "binary_cross_entropy": bind(
        "keras.ops.binary_crossentropy", rename={"input": "output"}, positional=("target", "output"),
        fixed={"from_logits": False}, drop={"weight": None}, reduced=True),
    "binary_cross_entropy_with_logits": bind(
        "keras.ops.binary_crossentropy", rename={"input": "output"}, positional=("target", "output"),
        fixed={"from_logits": True}, drop={"weight": None, "pos_weight": None}, reduced=True,
        note="from_logits=True"),
    "ctc_loss": bind(
        "keras.ops.ctc_loss", rename={"log_probs": "output", "blank": "mask_index"},
        convert={"log_probs": _batch_first},
        fixed={"target": _target, "target_length": _target_length, "output_length": _output_length},
        consumed=("targets", "input_lengths", "target_lengths"), positional=("target", "output"),
        drop={"zero_infinity": False}, only={"reduction": ("none", "sum")}, reduced=True,
        result=unbatched,
        note="time axis moved after the batch axis; keras normalizes its input (logits), torch takes "
             "log-probabilities as given"),
    "mse_loss": bind("keras.losses.mean_squared_error", rename={"input": "y_pred", "target": "y_true"},
                     positional=("y_true", "y_pred"), **PER_ELEMENT,
                     drop={"weight": None}, reduced=True, note=ELEMENTWISE),
    "l1_loss": bind("keras.losses.mean_absolute_error", rename={"input": "y_pred", "target": "y_true"},
                    positional=("y_true", "y_pred"), **PER_ELEMENT,
                    drop={"weight": None}, reduced=True, note=ELEMENTWISE),
    "huber_loss": bind("keras.losses.huber", rename={"input": "y_pred", "target": "y_true"},
                       positional=("y_true", "y_pred"), **PER_ELEMENT,
                       drop={"weight": None}, reduced=True, note=ELEMENTWISE),
    "smooth_l1_loss": bind("keras.losses.huber", rename={"input": "y_pred", "target": "y_true"},
                           positional=("y_true", "y_pred"), **PER_ELEMENT,
                           drop={"beta": 1.0}, reduced=True,
                           note="smooth_l1 with beta=1 is huber with delta=1; other betas skip. " + ELEMENTWISE),
    "poisson_nll_loss": bind("keras.losses.poisson", rename={"input": "y_pred", "target": "y_true"},
                             positional=("y_true", "y_pred"), **PER_ELEMENT,
                             drop={"log_input": False, "full": False, "eps": 1e-8}, reduced=True,
                             note="log_input=False (keras takes the rate, not its log); keras adds its own "
                                  "epsilon in the log. " + ELEMENTWISE),
    "nll_loss": Unmapped("keras has no negative log-likelihood over log-probabilities "
                         "(its crossentropies take logits or probabilities)"),
    "kl_div": Unmapped("keras.losses.kl_divergence takes probabilities (y_pred), not torch's log-probabilities, "
                       "and clips both to [1e-7, 1]"),
    "soft_margin_loss": Unmapped("keras has no soft margin loss"),
    "multilabel_soft_margin_loss": Unmapped("keras has no multilabel soft margin loss"),
    "multi_margin_loss": Unmapped("keras.losses.categorical_hinge takes one-hot targets and the max over "
                                  "wrong classes, not torch's sum over classes"),
    "multilabel_margin_loss": Unmapped("keras has no multilabel margin loss"),
    "hinge_embedding_loss": Unmapped("keras.losses.hinge is mean(max(0, 1 - y x)), not torch's "
                                     "x for y = 1, max(0, margin - x) for y = -1"),
    "margin_ranking_loss": Unmapped("keras has no margin ranking loss"),
    "cosine_embedding_loss": Unmapped("keras.losses.cosine_similarity is -cos for every pair; torch's "
                                      "margin loss for y = -1 is not provided"),
    "gaussian_nll_loss": Unmapped("keras has no Gaussian negative log-likelihood"),
    "triplet_margin_loss": Unmapped("keras has no triplet margin loss"),
    "triplet_margin_with_distance_loss": Unmapped("keras has no triplet margin loss"),
}

ARGUMENTS, _functions = table(MAPPING)
globals().update(_functions)
