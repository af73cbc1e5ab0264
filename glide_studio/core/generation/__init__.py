"""What describes a generation and what it reports: the request, the presets and the events (no torch)."""
