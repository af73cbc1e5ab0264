"""Pictures without models: image and mask files, their metadata, and region geometry (no torch)."""
