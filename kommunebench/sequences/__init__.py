"""Sequence analysis of weekly state paths, in TraMineR's vocabulary (work in progress)."""
