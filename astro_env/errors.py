"""Errors that mean "the input is wrong", as opposed to bugs.

Every expected failure caused by what a user passed (a missing file, a malformed line, an
out-of-range option, an unreachable hub) raises a `UserError`. It is a `ValueError`, so
command lines print it as one line (exit code 2) and callers that catch ValueError keep
working; `MissingFileError` is also a `FileNotFoundError` for callers that catch that.
"""

from __future__ import annotations

import argparse
from typing import NoReturn


class UserError(ValueError):
    """Bad user input; the message is one sentence that names the fix."""


class MissingFileError(UserError, FileNotFoundError):
    """A file or directory the user named does not exist (a `UserError` and a `FileNotFoundError`)."""


class OneLineParser(argparse.ArgumentParser):
    """An argparse parser whose errors raise `UserError` (one line, exit code 2 from `astro`), not a usage block."""

    def error(self, message: str) -> NoReturn:  # type: ignore[override]
        raise UserError(f"{' '.join(message.split()).rstrip('.')}; see `{self.prog} --help`.")
