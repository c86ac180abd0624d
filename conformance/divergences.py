"""Known divergences of torch from its documented semantics (``known_divergences/*.toml``,
one file per loss family; the format is described at the top of ``classification.toml``)."""

import os
import re
from dataclasses import dataclass

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the same parser as a package
    import tomli as tomllib

DIRECTORY = os.path.join(os.path.dirname(__file__), "known_divergences")


@dataclass(frozen=True)
class Divergence:
    tests: tuple
    function: str
    pattern: str
    reason: str
    link: str = ""
    strict: bool = True  # false only for bugs that pass by chance (uninitialized memory)

    def applies(self, test, case_id):
        return (test in self.tests and case_id.startswith(self.function + "(")
                and re.search(self.pattern, case_id) is not None)

    @property
    def explanation(self):
        return f"known torch divergence: {self.reason}" + (f" ({self.link})" if self.link else "")


def load(directory=DIRECTORY):
    entries = []
    for name in sorted(os.listdir(directory)):
        if not name.endswith(".toml"):
            continue
        with open(os.path.join(directory, name), "rb") as f:
            data = tomllib.load(f)
        entries += [Divergence(tuple(d["tests"]), d["function"], d["pattern"], " ".join(d["reason"].split()),
                               d.get("link", ""), d.get("strict", True))
                    for d in data.get("divergence", [])]
    return entries
