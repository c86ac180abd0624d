"""Independent oracles for the suite's own tests: finite differences and helpers."""

import numpy as np


def central_difference(f, args, name, grad_output, h=1e-6):
    """Gradient of ``sum(grad_output * f(**args))`` with respect to ``args[name]`` by central
    differences in float64: the oracle every ``f_backward`` is checked against.

    Kinks (|x| = 0 for l1, the hinge of a margin) make the difference quotient meaningless;
    keep generated points away from them (tests pick random points, which hit a kink with
    probability 0).
    """
    base = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in args.items()}
    x = np.array(base[name], dtype=np.float64)
    g = np.asarray(grad_output, dtype=np.float64)
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        values = []
        for step in (h, -h):
            shifted = x.copy()
            shifted[index] += step
            values.append(np.sum(g * np.asarray(f(**{**base, name: shifted}))))
        grad[index] = (values[0] - values[1]) / (2 * h)
    return grad


def assert_gradients_match(backward, forward, args, grad_output, names, rtol=1e-6, atol=1e-7):
    """``backward(grad_output, **args)[n]`` equals the central difference for each ``n`` in ``names``."""
    got = backward(grad_output, **args)
    assert set(got) == set(names), f"backward returned {sorted(got)}, expected {sorted(names)}"
    for n in names:
        expected = central_difference(forward, args, n, grad_output)
        np.testing.assert_allclose(got[n], expected, rtol=rtol, atol=atol, err_msg=f"gradient of {n}")
