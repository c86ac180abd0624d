"""Every known torch divergence, for the generated grid and for the property search: the
records in ``<family>.toml`` (the format is described at the top of ``classification.toml``;
read by :mod:`conformance.divergences`) and, in :mod:`.predicates`, the code that property
records name."""
