"""``python -m client``: the washout command line."""

import sys

from client.cli import main

if __name__ == "__main__":
    sys.exit(main())
