"""Prompt tokenizers."""
