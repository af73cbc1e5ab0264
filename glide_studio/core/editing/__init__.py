"""The editing session: the document, its history, runs and candidates, project files (no torch)."""
