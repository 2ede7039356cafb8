"""``python -m skqegm``: the package's main job (see :mod:`skqegm.cli`)."""

import sys

from skqegm.cli import main

if __name__ == "__main__":
    sys.exit(main())
