"""torch.nn.functional's losses as tinygrad computes them: its ``Tensor`` loss methods
(``Tensor.cross_entropy``, ``Tensor.nll_loss``, ``Tensor.binary_crossentropy``, ...), called with
the input tensor as ``self``; gradients through ``Tensor.gradient``::

    pip install "torch-loss-conformance[tinygrad]"
    apt-get install -y clang      # tinygrad's CPU device compiles its kernels with clang
    python -m conformance --target conformance.bindings.tinygrad --function nll_loss

The device is tinygrad's ``CPU`` when ``clang`` is on the PATH, else its ``PYTHON`` emulator (no
compiler needed, about ten times slower); a ``DEV`` set in the environment wins.
"""

import functools
import os
import shutil
import subprocess

os.environ.setdefault("DEV", "CPU" if shutil.which(os.environ.get("CC", "clang")) else "PYTHON")

import numpy as np  # noqa: E402
from tinygrad import Tensor, dtypes  # noqa: E402

from ..adapters import ArrayAdapter  # noqa: E402
from ._shared import Unmapped, bind, softmax_axis, table  # noqa: E402

# Read from this source by conformance.bindings.bindings() (without importing it): the packages this
# binding imports (installed by the extra [tinygrad]), and what it is, for the targets' list.
REQUIRES = ("tinygrad",)
SUMMARY = "tinygrad's Tensor losses"

DTYPES = {"float64": dtypes.float64, "float32": dtypes.float32, "float16": dtypes.float16,
          "bfloat16": dtypes.bfloat16}


@functools.cache
def uncompilable(dtype_name):
    """Why tinygrad's device here cannot compute in ``dtype_name``, or None. Its CPU device compiles
    every kernel with the host's clang, and an older clang has no bfloat16 for the target tinygrad
    asks for (clang 14, Debian 12's, rejects the kernel): the cases skip, naming that, instead of
    failing as the suite's own error when their inputs are made."""
    try:
        Tensor(np.array([1.0], dtype=np.float32)).cast(DTYPES[dtype_name]).realize()
    except Exception as exc:  # the device's compiler, whatever it raises
        why = (f"{exc.cmd[0]} exited with status {exc.returncode}" if isinstance(exc, subprocess.CalledProcessError)
               else f"{type(exc).__name__}: {str(exc).splitlines()[0][:120] if str(exc) else ''}")
        return f"tinygrad's {os.environ['DEV']} device here cannot compile a {dtype_name} kernel ({why})"
    return None


class TinygradAdapter(ArrayAdapter):
    """NumPy <-> tinygrad.Tensor. Tensors are lazy: each call is realized inside it, so that an
    error of the computation is the call's."""

    name = "tinygrad"
    dtype_names = tuple(DTYPES)
    raises = {RuntimeError: (ValueError, TypeError, AssertionError)}

    def unsupported(self, function, dtype_name):
        return super().unsupported(function, dtype_name) or uncompilable(dtype_name)

    def asarray(self, value, dtype_name):
        if dtype_name in DTYPES:
            # float32 holds every bfloat16 value exactly; the cast is exact
            wide = "float32" if dtype_name == "bfloat16" else dtype_name
            return Tensor(np.array(value, dtype=wide)).cast(DTYPES[dtype_name]).realize()
        return Tensor(np.array(value, dtype=dtype_name)).realize()

    def to_numpy(self, x):
        wide = dtypes.float64 if x.dtype == dtypes.float64 else dtypes.float32
        return np.asarray(x.cast(wide).numpy()).astype(np.float64)

    def is_array(self, x):
        return isinstance(x, Tensor)

    def dtype_name(self, x):
        for name, dtype in DTYPES.items():
            if x.dtype == dtype:
                return name
        return str(x.dtype)

    def dtype(self, name):
        return DTYPES[name]

    def call(self, fn, args, kwargs):
        out = fn(*args, **kwargs)
        return out.realize() if isinstance(out, Tensor) else out

    def gradients(self, fn, args, kwargs, names, grad_output, out=None):
        out = fn(*args, **kwargs)
        grads = out.gradient(*[kwargs[n] for n in names], gradient=grad_output.cast(out.dtype))
        return {n: g.realize() for n, g in zip(names, grads, strict=True)}


ADAPTER = TinygradAdapter()

MAPPING = {
    "softmax": bind("tinygrad.Tensor.softmax", consumed=("dim",),
                    fixed={"axis": softmax_axis}),
    "log_softmax": bind("tinygrad.Tensor.log_softmax", consumed=("dim",),
                        fixed={"axis": softmax_axis}),
    "cross_entropy": bind("tinygrad.Tensor.cross_entropy", rename={"target": "Y"},
                          drop={"weight": None, "ignore_index": -100},
                          note="index and probability targets, class axis and label_smoothing are tinygrad's"),
    "nll_loss": bind("tinygrad.Tensor.nll_loss", rename={"target": "Y"},
                     note="weight and ignore_index are tinygrad's"),
    "binary_cross_entropy": bind("tinygrad.Tensor.binary_crossentropy", rename={"target": "Y"},
                                 drop={"weight": None}),
    "binary_cross_entropy_with_logits": bind("tinygrad.Tensor.binary_crossentropy_logits", rename={"target": "Y"},
                                             drop={"weight": None}, note="pos_weight is tinygrad's"),
    "soft_margin_loss": Unmapped("tinygrad has no soft margin loss"),
    "multilabel_soft_margin_loss": Unmapped("tinygrad has no multilabel soft margin loss"),
    "ctc_loss": Unmapped("tinygrad has no CTC loss"),
    "multi_margin_loss": Unmapped("tinygrad has no multi-class margin loss"),
    "multilabel_margin_loss": Unmapped("tinygrad has no multilabel margin loss"),
    "hinge_embedding_loss": Unmapped("tinygrad has no hinge embedding loss"),
    "margin_ranking_loss": Unmapped("tinygrad has no margin ranking loss"),
    "cosine_embedding_loss": Unmapped("tinygrad has no cosine embedding loss"),
    "kl_div": Unmapped("tinygrad has no KL divergence loss"),
    "poisson_nll_loss": Unmapped("tinygrad has no Poisson negative log-likelihood"),
    "gaussian_nll_loss": Unmapped("tinygrad has no Gaussian negative log-likelihood"),
    "mse_loss": Unmapped("tinygrad has no mean squared error method"),
    "l1_loss": Unmapped("tinygrad has no absolute error method"),
    "smooth_l1_loss": Unmapped("tinygrad has no smooth L1 loss"),
    "huber_loss": Unmapped("tinygrad has no Huber loss"),
    "triplet_margin_loss": Unmapped("tinygrad has no triplet margin loss"),
    "triplet_margin_with_distance_loss": Unmapped("tinygrad has no triplet margin loss"),
}

ARGUMENTS, _functions = table(MAPPING)
globals().update(_functions)
