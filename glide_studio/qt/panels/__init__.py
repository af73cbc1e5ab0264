"""Docked panels of the main window: prompt and settings, candidates strip, history."""
