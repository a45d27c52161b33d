"""The error tree. Library code raises these; only cli.py turns them into messages and exit codes."""

from __future__ import annotations


class DealpulseError(Exception):
    """Base of every error dealpulse raises on purpose. `exit_code` is what the CLI exits with."""

    exit_code = 1
    status = 500

    def __init__(self, message: str, *, suggestion: str | None = None, problems: list[str] | None = None):
        super().__init__(message)
        self.message = message
        self.suggestion = suggestion
        self.problems = list(problems or [])

    def __str__(self) -> str:
        text = self.message
        if self.problems:
            text += "\n" + "\n".join(f"  - {p}" for p in self.problems)
        if self.suggestion:
            text += f"\nSuggestion: {self.suggestion}"
        return text


class InputError(DealpulseError, ValueError):
    """Bad user input: a file, an option, a playbook, a mapping."""

    exit_code = 2
    status = 400


class PlaybookError(InputError):
    """The playbook has problems; `problems` lists every one with its line."""


class MappingError(InputError):
    """A mapping file has problems."""


class StoreError(DealpulseError):
    """The store cannot be opened, migrated or written."""

    exit_code = 3


class NotFound(DealpulseError):
    exit_code = 4
    status = 404


class NoData(DealpulseError):
    """The store has nothing to compute on (for example, nothing was imported yet)."""

    exit_code = 5
    status = 404
