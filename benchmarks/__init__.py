"""Benchmarks of every registered loss: torch against composed versions, torch.compile, the
NumPy reference and an optional target. Off by default; see benchmarks/README.md."""
