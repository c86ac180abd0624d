"""Tensors and NumPy arrays: the conversions every adapter and check shares.

The reference computes on NumPy arrays (floating values as float64 holding the case dtype's
values); torch targets take tensors. These functions convert between the two, keep an exact
snapshot of a tensor's bits, and name torch's floating dtypes as the suite does.
"""

import numpy as np
import torch

TORCH_DTYPES = {
    "float64": torch.float64,
    "float32": torch.float32,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
}
BITS = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}  # an integer dtype of each element size


def to_torch(value, dtype, device, requires_grad=False):
    """A NumPy argument as the target sees it: floating arrays in ``dtype``, integer and
    boolean arrays in their own dtype, the option ``dtype="float64"`` as a torch dtype."""
    if isinstance(value, np.ndarray):
        if np.issubdtype(value.dtype, np.floating):
            t = torch.from_numpy(np.array(value, dtype=np.float64))  # np.array keeps 0-D shapes
            return t.to(device=device, dtype=TORCH_DTYPES[dtype]).requires_grad_(requires_grad)
        return torch.from_numpy(np.array(value)).to(device)
    return value


def convert_call(call, dtype, device, grad_args=()):
    """``(args, kwargs, leaves)`` for the target; ``leaves`` maps each differentiable name to its tensor."""
    converted, leaves = {}, {}
    for name, value in call.args.items():
        if name == "dtype" and isinstance(value, str):
            converted[name] = TORCH_DTYPES[value]
            continue
        converted[name] = to_torch(value, dtype, device, requires_grad=name in grad_args)
        if name in grad_args:
            leaves[name] = converted[name]
    items = list(converted.items())
    args = [v for _, v in items[: call.positional]]
    return args, dict(items[call.positional:]), leaves


def to_numpy(tensor):
    """float64 NumPy values of any tensor (bfloat16 included; a ZeroTensor, autograd's zero
    derivative, as zeros)."""
    if tensor._is_zerotensor():
        return np.zeros(tuple(tensor.shape))
    return tensor.detach().to("cpu", torch.float64).numpy()


def as_bits(tensor):
    """A view of a tensor's contents as integers of its element size (NaN payloads included), no copy."""
    t = tensor.detach()
    return t.view(BITS[t.element_size()]) if t.is_floating_point() else t


def bits(tensor):
    """An exact snapshot of a tensor's contents, NaN payloads included."""
    return as_bits(tensor).clone()


def torch_dtype_name(dtype):
    for name, value in TORCH_DTYPES.items():
        if value == dtype:
            return name
    return str(dtype).replace("torch.", "")


def to_layout(tensor, layout):
    """``tensor``'s values in ``layout`` (conformance/layouts.py; a new tensor, never a view of ``tensor``)."""
    if layout == "transposed":
        return tensor.transpose(-1, -2).contiguous().transpose(-1, -2)
    if layout == "sliced":
        wide = torch.full((*tensor.shape[:-1], 2 * tensor.shape[-1]), float("nan"), dtype=tensor.dtype,
                          device=tensor.device)
        wide[..., ::2] = tensor
        return wide[..., ::2]
    if layout == "expanded":
        return tensor[:1].clone().expand(tensor.shape)
    if layout == "channels_last":
        memory_format = torch.channels_last if tensor.dim() == 4 else torch.channels_last_3d
        return tensor.contiguous(memory_format=memory_format)
    raise ValueError(f"unknown layout {layout!r}")
