"""Released weights: where they live, how they are fetched, checked and loaded."""
