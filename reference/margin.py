"""Margin, embedding and ranking losses (in progress)."""

__all__ = []
