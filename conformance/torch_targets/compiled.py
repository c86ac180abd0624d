"""``--target conformance.torch_targets.compiled``: each function of ``torch.nn.functional``
through ``torch.compile(..., dynamic=False)`` on inductor; a call that Dynamo runs eagerly fails
its case (see ``conformance/torch_targets/__init__.py``)."""

from . import DIVERGENCES as _DIVERGENCES
from . import compiled_functions as _compiled_functions
from . import compiled_unsupported_transforms as _unsupported_transforms

INHERITS_TORCH_DIVERGENCES = True  # torch's eager divergences show as xfails here too
KNOWN_DIVERGENCES = _DIVERGENCES  # and these hold for torch.compile only
UNSUPPORTED_TRANSFORMS = _unsupported_transforms()  # jvp, gradgrad, vmap: see torch_targets/__init__.py
DYNAMIC = False

globals().update(_compiled_functions(dynamic=DYNAMIC))
