"""Text that may name a file: the one check every path from outside passes before the file system
sees it (an artifact path from a URL, a data file named in a config).

The OS refuses a NUL byte with a bare ``ValueError`` and a lone surrogate (what an undecodable URL
byte becomes) with a ``UnicodeEncodeError``; both would surface as a server error. Control
characters are refused too: no file of ours has one, and they disguise names in logs."""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def path_text_problem(text: str) -> str | None:
    """Why ``text`` cannot be a file path here, or None when it can."""
    if _CONTROL.search(text):
        return "contains a control character (a NUL byte, a newline, ...)"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid UTF-8 text"
    return None
