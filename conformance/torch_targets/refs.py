"""``--target conformance.torch_targets.refs``: ``torch._refs.nn.functional``, the Python
references behind torch's decompositions (what ``torch.compile`` and export lower to), re-exported
for the 11 of the registry's 23 functions it has (the others skip as "not provided by target").

``ARGUMENTS`` declares what ``_refs`` lacks: ``mse_loss``, ``l1_loss`` and ``huber_loss`` take no
``weight`` (eager gained it in torch 2.x), so a case with a weight skips with that reason where
``python -m conformance --target torch._refs.nn.functional`` fails it with ``TypeError: Got an
unexpected keyword argument 'weight'``: the suite's doing, not a difference of ``_refs``. Every
other failure is a genuine difference of ``_refs`` from eager (docs/compat/refs.md), except 16 strict
XPASSes: eager divergences inherited as strict xfails, which ``_refs`` does not share.
"""

import torch._refs.nn.functional as _refs

from ..adapters import Signature as _Signature
from . import functions as _functions

INHERITS_TORCH_DIVERGENCES = True  # torch's eager divergences show as xfails here too
ARGUMENTS = {name: _Signature(drop={"weight": None}) for name in ("mse_loss", "l1_loss", "huber_loss")}

globals().update({name: getattr(_refs, name) for name in _functions() if callable(getattr(_refs, name, None))})
