"""Requests to pixels: the model stages, the region plan and compositing."""
