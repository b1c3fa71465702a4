"""``python -m stockbot.live.supervise SESSION``: the supervisor process of one live session."""

from __future__ import annotations

import logging
import sys

from stockbot.live.control import supervise


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if len(argv) != 1:
        print("usage: python -m stockbot.live.supervise SESSION_ID", file=sys.stderr)
        return 2
    status = supervise(argv[0])
    return 0 if status != "failed" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
