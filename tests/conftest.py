"""The suite's own tests run tiny cases in their own process. torch's intra-op threads only add work
there: each idle thread spins for a while after every parallel region, on the core that xdist's
other worker or a subprocess's target worker needs (a third more CPU time for the size ports' grids,
measured). One thread per test process, as the suite's workers use; a scale check still takes the
host's threads for its own duration (conformance/scale.py)."""

import torch

torch.set_num_threads(1)
