"""Known divergences of torch from its documented semantics (``known_divergences.toml``)."""

import os
import re
from dataclasses import dataclass

import tomllib

PATH = os.path.join(os.path.dirname(__file__), "known_divergences.toml")


@dataclass(frozen=True)
class Divergence:
    tests: tuple
    function: str
    pattern: str
    reason: str
    link: str = ""

    def applies(self, test, case_id):
        return (test in self.tests and case_id.startswith(self.function + "(")
                and re.search(self.pattern, case_id) is not None)

    @property
    def explanation(self):
        return f"known torch divergence: {self.reason}" + (f" ({self.link})" if self.link else "")


def load(path=PATH):
    with open(path, "rb") as f:
        data = tomllib.load(f)
    return [Divergence(tuple(d["tests"]), d["function"], d["pattern"], " ".join(d["reason"].split()),
                       d.get("link", ""))
            for d in data.get("divergence", [])]
