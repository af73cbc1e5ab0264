"""Running models here: device and precision choice, layout, and the loaded engine."""
