"""Start GLIDE Studio from a source checkout: ``python main.py``."""

import sys

from glide_studio.cli import main

if __name__ == "__main__":
    sys.exit(main())
