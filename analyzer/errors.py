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


class AudioError(AnalyzerError):
    """The file cannot be read as audio, or its audio cannot be analysed."""


class ConfigError(AnalyzerError):
    """A configuration value or file is invalid."""
