"""Conformance suite: diffs torch.nn.functional (or any ``--target``) against ``reference``."""

__version__ = "0.1.0"
