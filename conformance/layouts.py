"""Memory layouts of the default grid: the same values, stored another way.

Kernels often assume their inputs are contiguous. A layout case passes the floating arguments
that have the input's shape (``input``, and ``target``, ``var``, ``input2`` ... where they share
it) as:

* ``transposed``: the transpose of a contiguous tensor of the swapped shape, transposed back
  (strides of a column-major last two dimensions);
* ``sliced``: every other element of a tensor twice as long in the last dimension (stride 2;
  the skipped elements are NaN, so a kernel that reads them shows it);
* ``expanded``: the first slice along dimension 0 expanded over it (stride 0): the values are
  that slice repeated, and the reference sees the same repeated values;
* ``channels_last``: 4-D inputs in ``torch.channels_last`` memory format (5-D:
  ``channels_last_3d``).

A layout is a property of torch tensors: an array target's adapter declares the layouts it can
build (``ArrayAdapter.layouts``, none by default), and the others skip with the reason.
"""

import numpy as np

LAYOUTS = ("transposed", "sliced", "expanded", "channels_last")


def applies(layout, shape):
    """Whether ``layout`` differs from contiguous storage for an input of ``shape``."""
    shape = tuple(shape)
    if 0 in shape:
        return False
    if layout == "transposed":
        return len(shape) >= 2 and shape[-1] > 1 and shape[-2] > 1
    if layout == "sliced":
        return len(shape) >= 1
    if layout == "expanded":
        return len(shape) >= 1 and shape[0] > 1
    if layout == "channels_last":
        return len(shape) in (4, 5) and shape[1] > 1 and int(np.prod(shape[2:])) > 1
    raise ValueError(f"unknown layout {layout!r}; known: {', '.join(LAYOUTS)}")


def arranged(call):
    """The names of the call's floating arrays that take the layout: those of the input's shape."""
    first = next(iter(call.args.values()))
    shape = np.shape(first)
    return tuple(name for name, value in call.args.items()
                 if isinstance(value, np.ndarray) and np.issubdtype(value.dtype, np.floating) and value.shape == shape)


def values(call, layout):
    """The call with the values the layout stores: ``expanded`` repeats the first slice along
    dimension 0 in every arranged argument; the other layouts keep the values."""
    if layout != "expanded":
        return call
    for name in arranged(call):
        value = call.args[name]
        call.args[name] = np.array(np.broadcast_to(value[:1], value.shape))
    return call
