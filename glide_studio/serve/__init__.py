"""Serving the editing pipeline over HTTP on Ray Serve (the optional ``serve`` extra).

``service`` is the framework-free part (checks, the event stream) and needs no
ray; ``deployment`` wraps it in Ray Serve deployments.
"""
