"""``python -m server``: parse flags, configure logging, serve."""

from __future__ import annotations

import logging
import sys

from server.app import serve
from server.config import parse_args


def main(argv: list[str] | None = None) -> int:
    """Run the server with flags from the command line."""
    config = parse_args(argv)
    logging.basicConfig(level=config.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # The format shows no thread or process, so records need not look them up (one record per call).
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    return serve(config)


if __name__ == "__main__":
    sys.exit(main())
