"""Argument parsing for magics: every parse error is a short ``UsageError``."""

from __future__ import annotations

import argparse
import shlex
from typing import Any, NoReturn

from IPython.core.error import UsageError


class MagicArgumentParser(argparse.ArgumentParser):
    """An ArgumentParser that raises UsageError instead of exiting."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("add_help", False)
        kwargs.setdefault("exit_on_error", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}\nusage: {self.format_usage().removeprefix('usage: ').strip()}")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        raise UsageError(message or self.format_usage())

    def parse_line(self, words: list[str]) -> argparse.Namespace:
        """Parse already split words; argparse errors become UsageError."""
        try:
            return self.parse_args(words)
        except argparse.ArgumentError as err:
            self.error(str(err))


def split_line(line: str) -> list[str]:
    """Split a magic's argument string like a shell would; bad quoting is a UsageError."""
    try:
        line.encode("utf-8")
        return shlex.split(line, posix=True)
    except UnicodeEncodeError:
        raise UsageError("%lineage: arguments must be valid text (found a lone surrogate)") from None
    except ValueError as err:
        raise UsageError(f"%lineage: cannot parse arguments ({err}): {line!r}") from None
