"""torch.nn.functional's losses as MLX computes them (``mlx.nn.losses.*``, with ``mlx.core.softmax``
and ``mlx.nn.log_softmax``), on MLX's CPU device; gradients through ``mlx.core.vjp``::

    pip install "torch-loss-conformance[mlx]"      # mlx[cpu]: the Linux CPU build
    python -m conformance --target conformance.bindings.mlx --function cross_entropy
"""

import mlx.core as mx
import numpy as np

from ..adapters import ArrayAdapter
from ._shared import Unmapped, bind, input_class_axis, softmax_axis, table, unit_axis

# Read from this source by conformance.bindings.bindings() (without importing it): the packages this
# binding imports (installed by the extra [mlx]), and what it is, for the targets' list.
REQUIRES = ("mlx",)
SUMMARY = "mlx.nn.losses"

DTYPES = {"float64": mx.float64, "float32": mx.float32, "float16": mx.float16, "bfloat16": mx.bfloat16}
INTEGERS = {"int64": mx.int64, "int32": mx.int32, "int16": mx.int16, "uint8": mx.uint8, "bool": mx.bool_}


class MlxAdapter(ArrayAdapter):
    """NumPy <-> mlx.core.array. Arrays are lazy: each call is evaluated inside it, so that an
    error of the computation is the call's."""

    name = "mlx"
    dtype_names = tuple(DTYPES)
    raises = {RuntimeError: (ValueError, TypeError)}

    def asarray(self, value, dtype_name):
        if dtype_name in DTYPES:
            # float32 holds every bfloat16 value exactly; the cast is exact
            wide = "float32" if dtype_name == "bfloat16" else dtype_name
            return mx.array(np.array(value, dtype=wide)).astype(DTYPES[dtype_name])
        return mx.array(np.array(value, dtype=dtype_name), dtype=INTEGERS[dtype_name])

    def to_numpy(self, x):
        wide = mx.float64 if x.dtype == mx.float64 else mx.float32
        return np.array(x.astype(wide)).astype(np.float64)

    def is_array(self, x):
        return isinstance(x, mx.array)

    def dtype_name(self, x):
        for name, dtype in DTYPES.items():
            if x.dtype == dtype:
                return name
        return str(x.dtype).replace("mlx.core.", "")

    def dtype(self, name):
        return DTYPES[name]

    def call(self, fn, args, kwargs):
        out = fn(*args, **kwargs)
        if isinstance(out, mx.array):
            mx.eval(out)
        return out

    def gradients(self, fn, args, kwargs, names, grad_output, out=None):
        def f(*diff):
            return fn(*args, **{**kwargs, **dict(zip(names, diff, strict=True))})

        _, grads = mx.vjp(f, [kwargs[n] for n in names], [grad_output])
        mx.eval(grads)
        return dict(zip(names, grads, strict=True))


ADAPTER = MlxAdapter()


ELEMENTWISE = "a unit axis appended, so MLX's sum over the last axis keeps per-element terms"

MAPPING = {
    "softmax": bind("mlx.core.softmax", drop={"dtype": None}, consumed=("dim",),
                    fixed={"axis": softmax_axis}),
    "log_softmax": bind("mlx.nn.log_softmax", drop={"dtype": None}, consumed=("dim",), rename={"input": "x"},
                        fixed={"axis": softmax_axis}),
    "cross_entropy": bind("mlx.nn.losses.cross_entropy", rename={"input": "logits", "target": "targets"},
                          fixed={"axis": input_class_axis}, drop={"weight": None, "ignore_index": -100},
                          note="index and probability targets and label_smoothing are MLX's; its weights "
                               "weigh each loss, not each class"),
    "nll_loss": bind("mlx.nn.losses.nll_loss", rename={"input": "inputs", "target": "targets"},
                     fixed={"axis": input_class_axis}, drop={"weight": None, "ignore_index": -100}),
    "binary_cross_entropy": bind("mlx.nn.losses.binary_cross_entropy",
                                 rename={"input": "inputs", "target": "targets", "weight": "weights"},
                                 fixed={"with_logits": False}, note="weight is MLX's (weights)"),
    "binary_cross_entropy_with_logits": bind(
        "mlx.nn.losses.binary_cross_entropy", rename={"input": "inputs", "target": "targets", "weight": "weights"},
        fixed={"with_logits": True}, drop={"pos_weight": None}, note="weight is MLX's (weights)"),
    "kl_div": bind("mlx.nn.losses.kl_div_loss", rename={"input": "inputs", "target": "targets"},
                   convert={"input": unit_axis, "target": unit_axis},
                   drop={"log_target": True}, only={"reduction": ("none", "mean", "sum")},
                   note="log_target=True (MLX takes log-probability targets). " + ELEMENTWISE),
    "gaussian_nll_loss": bind("mlx.nn.losses.gaussian_nll_loss",
                              rename={"input": "inputs", "target": "targets", "var": "vars"}),
    "mse_loss": bind("mlx.nn.losses.mse_loss", rename={"input": "predictions", "target": "targets"},
                     drop={"weight": None}),
    "l1_loss": bind("mlx.nn.losses.l1_loss", rename={"input": "predictions", "target": "targets"},
                    drop={"weight": None}),
    "smooth_l1_loss": bind("mlx.nn.losses.smooth_l1_loss", rename={"input": "predictions", "target": "targets"}),
    "huber_loss": bind("mlx.nn.losses.huber_loss", rename={"input": "inputs", "target": "targets"},
                       drop={"weight": None}),
    "margin_ranking_loss": bind("mlx.nn.losses.margin_ranking_loss",
                                rename={"input1": "inputs1", "input2": "inputs2", "target": "targets"}),
    "triplet_margin_loss": bind("mlx.nn.losses.triplet_loss",
                                rename={"anchor": "anchors", "positive": "positives", "negative": "negatives"},
                                drop={"swap": False}),
    "soft_margin_loss": Unmapped("MLX has no soft margin loss"),
    "multilabel_soft_margin_loss": Unmapped("MLX has no multilabel soft margin loss"),
    "ctc_loss": Unmapped("MLX has no CTC loss"),
    "multi_margin_loss": Unmapped("MLX has no multi-class margin loss"),
    "multilabel_margin_loss": Unmapped("MLX has no multilabel margin loss"),
    "hinge_embedding_loss": Unmapped("mlx.nn.losses.hinge_loss is max(0, 1 - y x), not torch's "
                                     "x for y = 1, max(0, margin - x) for y = -1"),
    "cosine_embedding_loss": Unmapped("mlx.nn.losses.cosine_similarity_loss returns the cosine similarity, "
                                      "not torch's margin loss"),
    "poisson_nll_loss": Unmapped("MLX has no Poisson negative log-likelihood"),
    "triplet_margin_with_distance_loss": Unmapped("mlx.nn.losses.triplet_loss takes a norm degree, "
                                                  "not a distance function"),
}

ARGUMENTS, _functions = table(MAPPING)
globals().update(_functions)
