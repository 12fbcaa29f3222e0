"""The one version string of call-analyzer (pyproject.toml reads it; results echo it)."""

__version__ = "0.5.0"
