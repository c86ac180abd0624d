"""The format of ids, in one place: what failure messages, rerun lines, reports and SPEC.md print.

A case's id reads like the call: ``cross_entropy(float32, (4, 5), label_smoothing=0.1)``. On a
device other than the CPU it ends in ``, device='cuda')``; the data, and so the seed, are the
same on every device. A test's node id puts the check and the id together:
``test_conformance::test_forward[<id>]`` inside the package, ``conformance/test_conformance.py::...``
in a checkout.
"""

import re
import shlex

from .options import DEFAULT_TARGET

MODULE = "test_conformance"  # the package's module of the checks' tests
_DEVICE = re.compile(r", device='([^']*)'\)$")
_NODE = re.compile(r"(?:^|[/\\.])test_conformance(?:\.py)?::test_((?:scale_)?(?:forward|backward|error))\[(.*)\]$",
                   re.DOTALL)


def on_device(data_id, device):
    """The id of the call ``data_id`` (``f(...)``) run on ``device``: itself on the CPU."""
    return data_id if device == "cpu" else f"{data_id[:-1]}, device={device!r})"


def device_of(item_id):
    match = _DEVICE.search(item_id)
    return match.group(1) if match else "cpu"


def function_of(item_id):
    return item_id.split("(", 1)[0]


def node(check, item_id, module=MODULE):
    """The node id of a check inside the package (``pytest --pyargs "conformance.<node>"``)."""
    return f"{module}::test_{check}[{item_id}]"


def checkout_node(check, item_id, module=MODULE):
    """The node id of a check relative to a checkout's root."""
    return f"conformance/{module}.py::test_{check}[{item_id}]"


def parse_node(nodeid):
    """``(check, item id)`` of a node id of a check of the grid or of the scale profile (in any
    of the forms above, or with a longer path), else None."""
    match = _NODE.search(nodeid)
    return None if match is None else match.groups()


def rerun(node, target=None, device="cpu", profile=None):
    """The command that reruns one test, from any directory and from a wheel install alike:
    ``node`` is the test's id inside the package (``test_conformance::test_forward[<id>]``)."""
    words = [f'pytest --pyargs "conformance.{node}"']
    name = getattr(target, "name", target)
    if name and name != DEFAULT_TARGET:
        words.append(f"--conformance-target={shlex.quote(name)}")
    if device != "cpu":
        words.append(f"--conformance-device={device}")
    if profile:
        words.append(f"--conformance-profile={profile}")
    return " ".join(words)
