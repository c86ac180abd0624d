"""A faithful re-export of torch.nn.functional that inherits torch's known divergences: the whole
suite, the grid and the property search alike, must pass against it (tests/test_verdict.py)."""

from torch.nn.functional import *  # noqa: F403

INHERITS_TORCH_DIVERGENCES = True  # torch's own functions, with torch's known divergences
