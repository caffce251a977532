"""Sampling: next-scale generation (sampler), editing masks and edit mode."""
