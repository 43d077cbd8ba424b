"""``python -m pyssl [command]``: the command line, which lives in
:mod:`pyssl._cli`."""

import sys

from pyssl._cli import main

if __name__ == "__main__":
    sys.exit(main())
