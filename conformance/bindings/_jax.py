"""The adapter for bindings whose arrays are JAX's (optax, Keras on its JAX backend).

Calls run eagerly (op by op): JAX compiles each primitive once per shape and dtype and reuses it
across cases, while ``jax.jit`` of a whole loss recompiles for every case, whose shapes and
options differ (docs/compat/bindings.md has the measurements). ``CONFORMANCE_JAX_JIT=1`` runs each
call under ``jax.jit`` instead, to check the compiled path.
"""

import os

import jax
import jax.numpy as jnp
import numpy as np

from ..adapters import ArrayAdapter

# float64 cases need 64-bit arrays; without this JAX silently computes in float32.
jax.config.update("jax_enable_x64", True)


def _floating(x):
    return isinstance(x, jax.Array) and jnp.issubdtype(x.dtype, jnp.floating)


class JaxAdapter(ArrayAdapter):
    """NumPy <-> jax.Array; gradients through jax.vjp."""

    dtype_names = ("float64", "float32", "float16", "bfloat16")
    # JAX reports a shape or dtype mismatch as TypeError or ValueError where torch raises
    # RuntimeError. IndexError stays strict: JAX does not check indices.
    raises = {RuntimeError: (ValueError, TypeError)}

    def __init__(self, name, jit=None):
        self.name = name
        self.jit = os.environ.get("CONFORMANCE_JAX_JIT", "0") == "1" if jit is None else jit

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

    def call(self, fn, args, kwargs):
        if not self.jit:
            return fn(*args, **kwargs)
        # Floating arrays are traced; integer ones (labels, lengths) stay concrete, as eagerly.
        arrays = {i: a for i, a in enumerate(args) if _floating(a)}
        named = {k: v for k, v in kwargs.items() if _floating(v)}

        def compiled(arrays, named):
            full = [arrays.get(i, a) for i, a in enumerate(args)]
            return fn(*full, **{**kwargs, **named})

        return jax.jit(compiled)(arrays, named)

    def gradients(self, fn, args, kwargs, names, grad_output, out=None):
        def f(*diff):
            return fn(*args, **{**kwargs, **dict(zip(names, diff, strict=True))})

        if self.jit:
            f = jax.jit(f)
        out, vjp = jax.vjp(f, *[kwargs[n] for n in names])
        return dict(zip(names, vjp(grad_output.astype(out.dtype)), strict=True))
