"""Broadcasting, forward and backward, shared by the loss families.

An argument that broadcasts against the others (NumPy's and torch's rule: shapes are aligned
at their last dimension, and a missing or size-1 dimension stretches to the other size) is
used as if it were copied along the stretched dimensions. Its gradient is therefore the sum
of the copies' gradients: ``unbroadcast`` sums a gradient of the broadcast shape back to the
argument's own shape, as torch's autograd does (``at::sum_to``).
"""

import numpy as np

__all__ = ["broadcast_shape", "unbroadcast"]


def broadcast_shape(*shapes):
    """The shape that ``shapes`` broadcast to, or torch's ``RuntimeError`` where they do not.

    The shapes are combined left to right, each pair compared from its last dimension, so
    the error names the sizes and dimension (counted from the front) torch names.

    >>> broadcast_shape((4, 1, 3), (5, 1), ())
    (4, 5, 3)
    >>> broadcast_shape((2, 3), (2, 4))
    Traceback (most recent call last):
    RuntimeError: The size of tensor a (3) must match the size of tensor b (4) at non-singleton dimension 1
    """
    result = ()
    for shape in shapes:
        ndim = max(len(result), len(shape))
        a = (1,) * (ndim - len(result)) + tuple(result)
        b = (1,) * (ndim - len(shape)) + tuple(shape)
        for i in reversed(range(ndim)):
            if a[i] != b[i] and a[i] != 1 and b[i] != 1:
                raise RuntimeError(f"The size of tensor a ({a[i]}) must match the size of tensor b ({b[i]}) "
                                   f"at non-singleton dimension {i}")
        result = tuple(m if n == 1 else n for n, m in zip(a, b, strict=True))
    return result


def unbroadcast(grad, shape):
    """Sum ``grad``, a gradient of the broadcast shape, back to an argument of ``shape``.

    Sums over the leading dimensions the argument lacks and over the dimensions where it has
    size 1 and ``grad`` does not; a ``grad`` already of ``shape`` is returned as it is.

    >>> unbroadcast(np.arange(6.0).reshape(2, 3), (3,)).tolist()  # rows summed
    [3.0, 5.0, 7.0]
    >>> unbroadcast(np.arange(6.0).reshape(2, 3), (2, 1)).tolist()  # columns summed, dim kept
    [[3.0], [12.0]]
    >>> unbroadcast(np.full((2, 3), -0.0), (3,)).tolist()  # as in torch: -0.0 terms sum to +0.0
    [0.0, 0.0, 0.0]
    """
    grad = np.asarray(grad, dtype=np.float64)
    shape = tuple(shape)
    if grad.shape == shape:
        return grad  # torch's autograd sums nothing here, so a -0.0 stays -0.0
    lead = grad.ndim - len(shape)
    stretched = tuple(lead + i for i, n in enumerate(shape) if n == 1 and grad.shape[lead + i] != 1)
    # torch's sum starts its accumulator at +0.0, so terms that are all -0.0 sum to +0.0 (IEEE: -0.0 + -0.0
    # is -0.0); initial=0.0 makes np.sum do the same by construction, not by its own choice of start.
    return np.sum(grad, axis=tuple(range(lead)) + stretched, keepdims=True, initial=0.0).reshape(shape)
