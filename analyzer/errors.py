"""One exception family. Every message names the file, the value and the fix."""

from __future__ import annotations


class AnalyzerError(Exception):
    """Base of every error the analyzer raises on purpose (bad input, bad config)."""

    def __init__(self, reason: str, *, path: str | None = None):
        self.reason = reason
        self.path = path
        super().__init__(f"{path}: {reason}" if path else reason)

    def one_line(self) -> str:
        """The message on one line, as written to errors.csv and shown to users."""
        return " ".join(str(self).split())

    def lines(self) -> list[str]:
        """One line per problem (a config file can have several), each naming the file."""
        return [self.one_line()]


class AudioError(AnalyzerError):
    """The file cannot be read as audio, or its audio cannot be analysed."""


class ConfigError(AnalyzerError):
    """A configuration value or file is invalid. ``problems``: further one-line problems of the same file."""

    def __init__(self, reason: str, *, path: str | None = None, problems: list[str] | None = None):
        super().__init__(reason, path=path)
        self.problems = list(problems or [])

    def lines(self) -> list[str]:
        prefix = f"{self.path}: " if self.path else ""
        return [self.one_line()] + [" ".join(f"{prefix}{p}".split()) for p in self.problems]
