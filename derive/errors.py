"""The one exception type that the command line turns into one line per problem and exit status 2,
and the one way to echo a user's text in a message: quoted, control characters escaped, cut short.
"""

from __future__ import annotations

import unicodedata

QUOTE_LIMIT = 80      # characters of a user's value quoted in a message
LINE_LIMIT = 1000     # characters of one message line, whatever it quotes
PROBLEM_LIMIT = 20    # lines printed for one error; the rest are counted


class DeriveError(Exception):
    """Bad input from the user: a malformed spec, a missing file, an impossible option.

    ``problems`` holds one line per distinct problem; ``str()`` joins them with newlines.
    """

    def __init__(self, *problems: str):
        self.problems = tuple(problems) or ("unknown error",)
        super().__init__("\n".join(self.problems))


def printable(text) -> str:
    """Text with every control or format character (newline, ESC, bidi overrides) written as an escape.

    >>> printable("a\\nb\\x1b[31m")
    'a\\\\nb\\\\x1b[31m'
    """
    return "".join(_escape(ch) if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp") else ch
                   for ch in str(text))


def _escape(ch: str) -> str:
    named = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
    if ch in named:
        return named[ch]
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def shorten(text: str, limit: int) -> str:
    """Text cut to ``limit`` characters, saying how many were left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit} more characters)"


def quote(value, limit: int = QUOTE_LIMIT) -> str:
    """A user's value for a message: in quotes, printable, at most ``limit`` characters of it.

    >>> quote("L5\\nderive: error: forged")
    "'L5\\\\nderive: error: forged'"
    """
    text = printable(value)
    if len(text) > limit:
        return f"'{text[:limit]}'... ({len(text) - limit} more characters)"
    return f"'{text}'"


def lines(problems) -> list[str]:
    """The lines to print for an error's problems: each one printable and bounded, at most PROBLEM_LIMIT."""
    problems = list(problems)
    out = [shorten(printable(p), LINE_LIMIT) for p in problems[:PROBLEM_LIMIT]]
    if len(problems) > PROBLEM_LIMIT:
        out.append(f"... and {len(problems) - PROBLEM_LIMIT} more problems")
    return out
