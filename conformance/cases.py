"""Deterministic, bounded case generation from the registry.

Each case is a frozen record whose id reads like the call it makes,
``cross_entropy(float32, (4, 5), reduction='sum', ignore_index=1)``: the function, the dtype,
the input shape, then every option that is not at its default, then the value class when
it is not ``normal``, then the device when it is not the CPU. The case's data seed is the
crc32 of its id without the device (``hash()`` is salted per process), so a case
reproduces alone, under ``-k``, under xdist, and on every device with the same data.

Grid, per function:

* main: every shape x every option combination x every dtype, with normal values;
* value classes (extreme, ties, non-finite, ...): every option combination x every dtype,
  each paired with one non-empty shape in rotation, so every value class meets every
  option and dtype and the shapes are covered too;
* layouts (transposed, sliced, expanded, channels_last: ``conformance/layouts.py``), in the
  conformance tests' grid (``layouts=True``): every option combination once per layout, normal
  values, the shapes the layout changes and the dtypes in rotation;
* size regimes (``conformance/sizes.py``), in the conformance tests' grid (``sizes=True``): each
  regime shape of the spec once per dtype, normal values, with the options the regime pins and
  every other option turning by one value from case to case.

Option combinations the spec declares invalid (``Spec.valid``) are left to its error cases.
"""

import itertools
import zlib
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from . import ids, layouts
from .options import TRANSFORM_DTYPES
from .registry import REGISTRY, ShapeDependent


def _fmt_value(value):
    return repr(value)


def _fmt_shape(shape):
    return repr(tuple(shape))


class Drawn:
    """What every case shares, given its ``data_id`` (the call, without the device) and ``device``:
    its id, its seed (the CRC-32 of the data id, so the data are the same on every device) and its
    random streams (stream 1 draws ``grad_output``). The grid's :class:`Case` and the scale
    profile's cases are both drawn this way."""

    @cached_property  # ids are read many times at collection; a frozen dataclass allows this cache
    def id(self):
        return ids.on_device(self.data_id, self.device)

    @cached_property
    def seed(self):
        return zlib.crc32(self.data_id.encode())

    def rng(self, stream=0):
        return np.random.default_rng([self.seed, stream])

    def __str__(self):
        return self.id


@dataclass(frozen=True)
class Case(Drawn):
    function: str
    dtype: str
    shape: tuple
    options: tuple = ()  # ((name, value), ...): the non-default options, in registry order
    values: str = "normal"
    device: str = "cpu"
    layout: str = "contiguous"  # how the torch arguments are stored (conformance/layouts.py)
    regime: str = ""  # the size regime (conformance/sizes.py) of a size case; not part of the id

    @cached_property
    def data_id(self):
        parts = [self.dtype, _fmt_shape(self.shape)]
        parts += [f"{k}={_fmt_value(v)}" for k, v in self.options]
        if self.layout != "contiguous":
            parts.append(f"layout={self.layout!r}")
        if self.values != "normal":
            parts.append(f"values={self.values}")
        return f"{self.function}({', '.join(parts)})"

    @property
    def spec(self):
        return REGISTRY[self.function]

    def option(self, name):
        """The option's value in this case (its default when not set)."""
        for key, value in self.options:
            if key == name:
                return value
        default = self.spec.options[name][0]
        return default.resolve(self.shape) if isinstance(default, ShapeDependent) else default


def _combinations(spec, shape):
    names = list(spec.options)
    for values in itertools.product(*(spec.options[n] for n in names)):
        chosen = []
        for name, value, domain in zip(names, values, (spec.options[n] for n in names), strict=True):
            if value is domain[0]:
                continue  # defaults stay out of the id
            if isinstance(value, ShapeDependent):
                value = value.resolve(shape)
            chosen.append((name, value))
        yield tuple(chosen)


def layout_of(case):
    """The case's layout: ``"contiguous"`` for anything shaped like a case without one (the
    property search's drawn cases)."""
    return getattr(case, "layout", "contiguous")


def sample_call(case):
    """The case's arguments (a :class:`~conformance.registry.Call`), the values its layout stores
    included: what the reference and the target both get."""
    call = case.spec.sample(case.rng(), case)
    layout = layout_of(case)
    return call if layout == "contiguous" else layouts.values(call, layout)


_GENERATED = {}


def generate(spec, dtypes=None, devices=("cpu",), layouts=False, sizes=False):
    """All cases of ``spec``, in a stable order, without duplicates; with ``layouts`` the layout
    cases too (torch tensors only: the golden vectors, the modules and the properties leave them
    out), with ``sizes`` the size-regime cases (large arrays: the golden vectors leave them out).
    Computed once per spec and selection: collection asks for the same grid several times."""
    key = (spec.name, None if dtypes is None else tuple(dtypes), tuple(devices), layouts, sizes)
    cached = _GENERATED.get(key)
    if cached is None or cached[0] is not spec:
        cached = _GENERATED[key] = (spec, tuple(_generate(spec, dtypes, devices, layouts, sizes)))
    return list(cached[1])


def _size_cases(spec, dtypes, device):
    """The size-regime cases of ``spec`` on ``device`` (see the module docstring)."""
    step = 0
    for size in spec.sizes:
        for shape in size.shapes:
            shape = tuple(shape)
            pool = []
            for options in _combinations(spec, shape):
                probe = Case(spec.name, dtypes[0], shape, options)
                if size.pins(probe) and spec.valid(probe):
                    pool.append((probe, options))
            if not pool:
                raise ValueError(f"{spec.name}: no valid option combination for the size regime "
                                 f"{size.regime!r} at {shape}")
            for dtype in dtypes:
                # Every option turns by one value per case, the k-th also by k more each time it has
                # been round (an orthogonal array: each pair of values meets), so the dtypes of a
                # shape, and the shapes, see different values of each: the valid combination nearest
                # to that wish.
                wish = {name: domain[(step + k * (step // len(domain))) % len(domain)]
                        for k, (name, domain) in enumerate(spec.options.items())}
                score = [sum(_same(probe.option(name), _resolved(value, shape)) for name, value in wish.items())
                         for probe, _ in pool]
                options = pool[score.index(max(score))][1]
                yield Case(spec.name, dtype, shape, options, spec.values[0], device, regime=size.regime)
                step += 1


def _resolved(value, shape):
    return value.resolve(shape) if isinstance(value, ShapeDependent) else value


def _same(a, b):
    return a is b or (type(a) is type(b) and a == b)


def _generate(spec, selected, devices, with_layouts=False, with_sizes=False):
    # The grid is laid out over all of the spec's dtypes and then filtered, so that a case of a
    # --dtype selection is the same case, with the same id and data, as in the full grid.
    dtypes = list(spec.dtypes)
    cases = {}

    def add(case):
        if case.id not in cases and (selected is None or case.dtype in selected) and spec.valid(case):
            cases[case.id] = case

    for device in devices:
        for shape in spec.shapes:
            for options in _combinations(spec, shape):
                for dtype in dtypes:
                    add(Case(spec.name, dtype, tuple(shape), options, spec.values[0], device))
        rotation = [tuple(s) for s in spec.shapes if 0 not in s] or [tuple(s) for s in spec.shapes]
        combinations = {shape: list(_combinations(spec, shape)) for shape in rotation}
        for values in spec.values[1:]:
            for i in range(len(combinations[rotation[0]])):
                for j, dtype in enumerate(dtypes):
                    shape = rotation[(i + j) % len(rotation)]
                    add(Case(spec.name, dtype, shape, combinations[shape][i], values, device))
        for layout in layouts.LAYOUTS if with_layouts else ():
            shapes = [tuple(s) for s in spec.shapes if layouts.applies(layout, s)]
            options = {shape: list(_combinations(spec, shape)) for shape in shapes}
            for i in range(len(options[shapes[0]]) if shapes else 0):
                shape = shapes[i % len(shapes)]
                dtype = dtypes[i % len(dtypes)]
                add(Case(spec.name, dtype, shape, options[shape][i % len(options[shape])], spec.values[0], device,
                         layout))
        for case in _size_cases(spec, dtypes, device) if with_sizes else ():
            add(case)
    return list(cases.values())


def all_cases(functions=None, dtypes=None, devices=("cpu",), layouts=False, sizes=False):
    """Cases of every registered function (or of ``functions``); ``layouts``, ``sizes``: see
    :func:`generate`."""
    out = []
    for name, spec in REGISTRY.items():
        if functions is None or name in functions:
            out += generate(spec, dtypes, devices, layouts, sizes)
    return out


def transform_grid(functions=None, dtypes=None, devices=("cpu",)):
    """The cases the transform checks (``conformance/transforms.py``) run on: every option combination
    of each function once per dtype of ``TRANSFORM_DTYPES``, normal values, contiguous, with the
    non-empty shapes in rotation. Each is a case of the main grid, with its id and data."""
    out = []
    for name, spec in REGISTRY.items():
        if functions is not None and name not in functions:
            continue
        rotation = [tuple(s) for s in spec.shapes if 0 not in s]
        combinations = {shape: list(_combinations(spec, shape)) for shape in rotation}
        step = 0
        for device in devices:
            for dtype in TRANSFORM_DTYPES:
                if dtype not in spec.dtypes or (dtypes is not None and dtype not in dtypes):
                    continue
                for i in range(len(combinations[rotation[0]])):
                    for turn in range(len(rotation)):  # the next shape where the combination is valid
                        shape = rotation[(step + turn) % len(rotation)]
                        case = Case(name, dtype, shape, combinations[shape][i], spec.values[0], device)
                        if spec.valid(case):
                            out.append(case)
                            break
                    step += 1
    return out


def conformance_grid(functions=None, dtypes=None, devices=("cpu",)):
    """The cases the conformance tests check: the grid with its layout and size-regime cases."""
    return all_cases(functions, dtypes, devices, layouts=True, sizes=True)


_BY_ID = {}


def find(case_id):
    """The case of the grid with this id (as printed in a failure), for reproducers."""
    function, device = ids.function_of(case_id), ids.device_of(case_id)
    if function not in REGISTRY:
        raise KeyError(f"no case with id {case_id!r}")
    key = (function, device)
    if key not in _BY_ID:
        _BY_ID[key] = {case.id: case for case in generate(REGISTRY[function], devices=(device,), layouts=True,
                                                                  sizes=True)}
    try:
        return _BY_ID[key][case_id]
    except KeyError:
        raise KeyError(f"no case with id {case_id!r}") from None
