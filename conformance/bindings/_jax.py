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

from ..adapters import ArrayAdapter, of_arguments

# float64 cases need 64-bit arrays; without this JAX silently computes in float32.
jax.config.update("jax_enable_x64", True)


def _floating(x):
    return isinstance(x, jax.Array) and jnp.issubdtype(x.dtype, jnp.floating)


class JaxAdapter(ArrayAdapter):
    """NumPy <-> jax.Array; gradients through jax.vjp; the transform checks through JAX's own
    transforms (jax.jvp, a jax.grad of the vjp, jax.vmap, jax.vmap of jax.grad)."""

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

    def _of(self, fn, kwargs, names):
        """``fn`` as a function of the arguments ``names`` (adapters.of_arguments), jitted under ``jit``."""
        f = of_arguments(fn, kwargs, list(names))
        return jax.jit(f) if self.jit else f

    def jvp(self, fn, kwargs, tangents):
        names = list(tangents)
        _, tangent = jax.jvp(self._of(fn, kwargs, names), tuple(kwargs[n] for n in names),
                             tuple(tangents[n] for n in names))
        return tangent

    def gradgrad(self, fn, kwargs, names, grad_output, weights):
        f = self._of(fn, kwargs, names)

        def contracted(primals, cotangent):
            out, vjp = jax.vjp(f, *primals)
            return sum(jnp.sum(weights[n] * g) for n, g in zip(names, vjp(cotangent.astype(out.dtype)), strict=True))

        second, of_grad_output = jax.grad(contracted, argnums=(0, 1))(tuple(kwargs[n] for n in names), grad_output)
        return dict(zip(names, second, strict=True)), of_grad_output

    def vmap(self, fn, kwargs, batched):
        return jax.vmap(self._of(fn, kwargs, list(batched)))(*(kwargs[n] for n in batched))

    def vmap_grad(self, fn, kwargs, batched, names):
        order = list(batched) + [n for n in names if n not in batched]
        argnums = tuple(order.index(n) for n in names)
        in_axes = tuple(0 if n in batched else None for n in order)
        grads = jax.vmap(jax.grad(self._of(fn, kwargs, order), argnums=argnums), in_axes=in_axes)(
            *(kwargs[n] for n in order))
        return dict(zip(names, grads, strict=True))
