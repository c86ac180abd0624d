"""Bindings: torch.nn.functional's losses as other frameworks compute them, one module per
framework (``optax``, ``keras``, ``tinygrad``, ``mlx``), each an array target of the suite::

    python -m conformance --target conformance.bindings.optax --function cross_entropy

A binding is a table (``MAPPING``): per registry function, the framework's own public loss
function and how torch's arguments map onto it (:class:`conformance.bindings._shared.Binding`),
or why the framework has none (:class:`conformance.bindings._shared.Unmapped`). It renames
arguments, moves axes, converts layouts and applies the one shared plain sum/mean
(:func:`conformance.bindings._shared.reduce`); it computes no loss. Each module needs its
framework (the extras ``optax``, ``keras``, ``tinygrad``, ``mlx``); ``docs/compat/bindings.md``
renders the tables and the results.
"""

FRAMEWORKS = ("optax", "keras", "tinygrad", "mlx")
