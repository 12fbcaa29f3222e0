"""call-analyzer: pacing, turn-taking and emotion of recorded two-party calls, from audio alone.

Library entry points (the CLI is a thin layer over them)::

    from analyzer import AnalysisConfig, analyze_file, analyze_folder
    result = analyze_file("call.wav", AnalysisConfig())
    result.metrics["agent_latency_median_s"]

Nothing is loaded at import time; models load on first use.
"""

from ._version import __version__

__all__ = ["AnalysisConfig", "CallResult", "analyze_file", "analyze_files", "analyze_folder", "load_config", "__version__"]


def __getattr__(name):
    # lazy: importing the package stays cheap and side-effect free
    if name in ("AnalysisConfig", "load_config"):
        from . import config

        return getattr(config, name)
    if name == "CallResult":
        from .result import CallResult

        return CallResult
    if name == "analyze_file":
        from .pipeline import analyze_file

        return analyze_file
    if name in ("analyze_files", "analyze_folder"):
        from . import batch

        return getattr(batch, name)
    raise AttributeError(f"module 'analyzer' has no attribute {name!r}")
