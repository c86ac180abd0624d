"""A port of a few of torch.nn.functional's losses to JAX, written the way a JAX user would
write it (jax.numpy, jax.nn, autodiff for the gradients), and the adapter that lets the
conformance suite check it::

    pip install jax jaxlib
    pytest conformance --target examples/jax_port.py -k "cross_entropy or nll_loss" -p no:randomly
    python -m conformance --target examples/jax_port.py

The port is deliberately left as written before the suite was run: what the suite finds in
it (docs/jax-port.md, the list after the table) is the point
of the example. The adapter interface it implements is documented in
``conformance/adapters.py`` and docs/porting.md ("The adapter and the argument table").
Only ``softmax``, ``log_softmax``, ``nll_loss``, ``cross_entropy``, ``mse_loss`` and
``binary_cross_entropy_with_logits`` are ported; the other functions are reported as
skipped ("not provided by target").
"""

import jax
import jax.numpy as jnp
import numpy as np

from conformance.adapters import ArrayAdapter, Signature

# float64 cases need 64-bit arrays; without this JAX silently computes in float32.
jax.config.update("jax_enable_x64", True)


class JaxAdapter(ArrayAdapter):
    """NumPy <-> jax.Array, jax.vjp for the gradients."""

    name = "jax"
    dtype_names = ("float64", "float32", "float16", "bfloat16")
    # JAX reports a shape or dtype mismatch as TypeError or ValueError where torch raises
    # RuntimeError. IndexError stays strict: JAX does not check indices at all.
    raises = {RuntimeError: (ValueError, TypeError)}

    def asarray(self, value, dtype_name):
        return jnp.asarray(value, dtype=jnp.dtype(dtype_name))

    def to_numpy(self, x):
        return np.asarray(x).astype(np.float64)

    def is_array(self, x):
        return isinstance(x, jax.Array)

    def dtype_name(self, x):
        return jnp.dtype(x.dtype).name

    def dtype(self, name):
        return jnp.dtype(name)

    def gradients(self, fn, args, kwargs, names, grad_output, out):
        # functional autodiff: trace fn again (``out``, the value already checked, is not needed)
        def f(*diff):
            return fn(*args, **{**kwargs, **dict(zip(names, diff, strict=True))})

        _, vjp = jax.vjp(f, *[kwargs[n] for n in names])
        return dict(zip(names, vjp(grad_output.astype(out.dtype)), strict=True))


ADAPTER = JaxAdapter()

# mse_loss here has no ``weight`` (torch added it recently): cases that pass one skip.
ARGUMENTS = {"mse_loss": Signature(drop={"weight": None})}


def _reduce(loss, reduction):
    if reduction == "mean":
        return jnp.mean(loss)
    if reduction == "sum":
        return jnp.sum(loss)
    if reduction == "none":
        return loss
    raise ValueError(f"{reduction} is not a valid value for reduction")


def softmax(input, dim=None, dtype=None):
    if dtype is not None:
        input = input.astype(dtype)
    return jax.nn.softmax(input, axis=-1 if dim is None else dim)


def log_softmax(input, dim=None, dtype=None):
    if dtype is not None:
        input = input.astype(dtype)
    return jax.nn.log_softmax(input, axis=-1 if dim is None else dim)


def _class_axis(input):
    return 0 if input.ndim == 1 else 1


def nll_loss(input, target, weight=None, ignore_index=-100, reduction="mean"):
    axis = _class_axis(input)
    n_classes = input.shape[axis]
    if weight is None:
        weight = jnp.ones(n_classes, input.dtype)
    valid = target != ignore_index
    safe = jnp.where(valid, target, 0).astype(jnp.int32)
    picked = jnp.take_along_axis(input, jnp.expand_dims(safe, axis), axis=axis).squeeze(axis)
    w = jnp.where(valid, weight[safe], 0).astype(input.dtype)
    loss = -w * picked
    if reduction == "mean":
        return jnp.sum(loss) / jnp.sum(w)
    return _reduce(loss, reduction)


def cross_entropy(input, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    axis = _class_axis(input)
    n_classes = input.shape[axis]
    logp = jax.nn.log_softmax(input, axis=axis)
    if weight is None:
        weight = jnp.ones(n_classes, input.dtype)
    wshape = [1] * input.ndim
    wshape[axis] = n_classes
    if jnp.issubdtype(target.dtype, jnp.floating):  # class probabilities
        t = target * (1 - label_smoothing) + label_smoothing / n_classes
        loss = -jnp.sum(weight.reshape(wshape) * t * logp, axis=axis)
        return _reduce(loss, reduction)
    # class indices: the smoothed one-hot target, as optax.softmax_cross_entropy does
    valid = target != ignore_index
    safe = jnp.where(valid, target, 0).astype(jnp.int32)
    onehot = jax.nn.one_hot(safe, n_classes, axis=axis, dtype=logp.dtype)
    t = onehot * (1 - label_smoothing) + label_smoothing / n_classes
    w = jnp.where(valid, weight[safe], 0).astype(input.dtype)
    loss = -w * jnp.sum(t * logp, axis=axis)
    if reduction == "mean":
        return jnp.sum(loss) / jnp.sum(w)
    return _reduce(loss, reduction)


def mse_loss(input, target, reduction="mean"):
    if input.shape != target.shape:
        raise ValueError(f"input shape {input.shape} and target shape {target.shape} differ")
    return _reduce((input - target) ** 2, reduction)


def binary_cross_entropy_with_logits(input, target, weight=None, reduction="mean", pos_weight=None):
    if input.shape != target.shape:
        raise ValueError(f"input shape {input.shape} and target shape {target.shape} differ")
    log_p = jax.nn.log_sigmoid(input)
    log_not_p = jax.nn.log_sigmoid(-input)
    if pos_weight is None:
        loss = -(target * log_p + (1 - target) * log_not_p)
    else:
        loss = -(pos_weight * target * log_p + (1 - target) * log_not_p)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)
