import sys

from glide_studio.cli import main

sys.exit(main())
