#!/usr/bin/env python3
"""The benchmark suite (issue 6): ours next to the peers, same inputs, same run.

Each benchmark writes one markdown table and one JSON file into ``--out`` (default ``bench/``):

    python scripts/bench/run.py pacing       # simulated calls: normal, heavy and mono conditions, 40 calls each
    python scripts/bench/run.py pacing-mono  # the mono condition alone
    python scripts/bench/run.py ami          # AMI excerpts vs their RTTM annotations
    python scripts/bench/run.py emotion      # copies the emotion evaluation tables (analyzer/models/*/evaluation.md)
    python scripts/bench/run.py speed        # real-time factor per stage, peak RSS, peers' speed, paired A/B
    python scripts/bench/run.py throughput   # hours of audio per hour, 200 simulated calls, --jobs 2
    python scripts/bench/run.py jobs-scaling # the same 200 calls with --jobs 1 and --jobs 2: the speed-up of a second worker
    python scripts/bench/run.py vs-peers     # whole-process CPU of ours vs call-ai-metrics on one folder, alternating
    python scripts/bench/run.py startup      # CPU and peak RSS of `analyze` on a 30 s call, with and without emotion
    python scripts/bench/run.py all
    python scripts/bench/run.py all --quick --out /tmp/bench   # tiny inputs: a smoke test, not a measurement

Heavy runs share the CPU with other work: run one at a time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parents[1]
REPO = SCRIPTS.parent
sys.path.insert(0, str(SCRIPTS))
sys.path.insert(0, str(REPO))


# name -> (seed, simulator overrides, description); audible truth (eval_pacing's default) in both
PACING_CONDITIONS = {
    "normal": (1, {"snr_db": 20.0, "crosstalk_db": None}, "stereo, SNR 20 dB, crosstalk drawn in -40..-25 dB"),
    "heavy": (2, {"snr_db": 10.0, "crosstalk_db": -25.0}, "stereo, SNR 10 dB, crosstalk -25 dB"),
}
PACING_FILES = {"normal": "pacing_accuracy", "heavy": "pacing_accuracy_heavy", "mono": "pacing_accuracy_mono"}
NO_MONO_PEER = "not available: none of the peers splits one mixed channel between two parties"


def machine() -> str:
    """One line describing the machine the figures come from."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = "%.1f %.1f %.1f" % os.getloadavg()
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()} {platform.release()}, load average {load}"


def write(out: Path, stem: str, title: str, table: str, data: dict) -> None:
    """``out/stem.md`` (title + table) and ``out/stem.json`` (``data`` plus the machine line and the time)."""
    out.mkdir(parents=True, exist_ok=True)
    import subprocess

    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO).stdout.strip()
    (out / f"{stem}.md").write_text(f"{title}\n\nMachine: {machine()}; run {stamp} at commit {commit or '?'}\n\n{table}\n")
    (out / f"{stem}.json").write_text(json.dumps({"title": title, "machine": machine(), "run_utc": stamp, "commit": commit, **data}, indent=1))
    print(f"wrote {out / stem}.md and .json", file=sys.stderr)


def bench_pacing(out: Path, *, quick: bool) -> None:
    from eval_pacing import SYSTEMS, evaluate, markdown

    n = 1 if quick else 40
    for name, (seed, sim, description) in PACING_CONDITIONS.items():
        sim = {**sim, "n_turns": 6} if quick else sim
        start = time.perf_counter()
        results = evaluate(n, seed=seed, systems=SYSTEMS, truth_threshold_db=None, **sim)
        title = (f"Pacing accuracy, {name} condition: {n} simulated calls ({description}), seed {seed}, 8 kHz mu-law, "
                 "audible truth (clean speech >= 3 dB above the line noise in the carried band)")
        mono = "\n\nMono (one mixed channel): see pacing_accuracy_mono.md."
        write(out, PACING_FILES[name], title, markdown(results) + mono,
              {"condition": name, "n_calls": n, "seed": seed, "simulation": sim, "truth": "audible",
               "results": results, "elapsed_s": time.perf_counter() - start})
    bench_pacing_mono(out, quick=quick)


def bench_pacing_mono(out: Path, *, quick: bool) -> None:
    """The normal condition's calls as their mono mix: our VAD + analyzer.diarize (issue 5), ours only."""
    from eval_pacing import MONO, evaluate, markdown

    seed, sim, description = PACING_CONDITIONS["normal"]
    sim = {**sim, "n_turns": 6} if quick else sim
    n = 1 if quick else 40
    title = (f"Pacing accuracy, mono condition: the mono mix of the normal condition's {n} calls ({description}), seed "
             f"{seed}, 8 kHz mu-law, audible truth; our VAD on the one channel, then analyzer.diarize.diarize")
    start = time.perf_counter()
    results = evaluate(n, seed=seed, systems=(MONO,), truth_threshold_db=None, **sim)
    write(out, PACING_FILES["mono"], title, markdown(results) + f"\n\nPeers: {NO_MONO_PEER}.",
          {"condition": "mono", "n_calls": n, "seed": seed, "simulation": sim, "truth": "audible", "peers": NO_MONO_PEER,
           "results": results, "elapsed_s": time.perf_counter() - start})


def bench_ami(out: Path, *, quick: bool) -> None:
    from eval_ami_vad import AMI, DETECTORS, PEERS, evaluate, markdown

    if not AMI.exists():
        write(out, "ami_vad", "AMI excerpts", f"not available: AMI excerpts not found at {AMI}", {"results": {}})
        return
    limit = 1 if quick else None
    systems = {**{name: (sections, None) for name, sections in DETECTORS.items()},
               **{f"{peer} (raw)": ({}, peer) for peer in PEERS}}
    results = {name: evaluate(sections, peer=peer, limit=limit) for name, (sections, peer) in systems.items()}
    lines = [markdown(results)]
    title = ("Speech detection on the AMI meeting excerpts (30 s, one mixed far-field 16 kHz channel) against the "
             "human RTTM annotations (speech = union of all speakers' turns); peers smoothed like ours")
    write(out, "ami_vad", title, "\n".join(lines), {"results": results})


def bench_emotion(out: Path, *, quick: bool) -> None:
    """Copies each shipped model's evaluation (written by scripts/eval_emotion.py); re-evaluates nothing."""
    parts, data = [], {}
    for md in sorted((REPO / "analyzer" / "models").glob("*/evaluation.md")):
        model = md.parent.name
        parts.append(f"### {model}\n\nFrom `analyzer/models/{model}/evaluation.md`:\n\n{md.read_text().strip()}")
        figures = md.with_suffix(".json")
        data[model] = {"source": f"analyzer/models/{model}/evaluation.md",
                       "evaluation": json.loads(figures.read_text()) if figures.exists() else None}
    table = "\n\n".join(parts) or "not available: no analyzer/models/*/evaluation.md found (run scripts/eval_emotion.py)"
    title = ("Emotion accuracy of the shipped models vs the functionals+SVM baseline (copied from "
             "analyzer/models/*/evaluation.md, produced by scripts/eval_emotion.py; not re-run by this suite)")
    write(out, "emotion", title, table, {"models": data})


def bench_speed(out: Path, *, quick: bool) -> None:
    import tempfile

    from bench_speed import speed_suite, speed_markdown

    minutes = [0.25] if quick else [1, 10, 60, 180]
    with tempfile.TemporaryDirectory() as workdir:
        suite = speed_suite(minutes, workdir=Path(workdir), peer_minutes=[0.25] if quick else [1, 10],
                            pairs=1 if quick else 3, ab_minutes=0.25 if quick else 10,
                            ab_peers=("webrtcvad",) if quick else ("silero-vad", "webrtcvad"),
                            mono_minutes=(0.25,) if quick else (10, 60))
    title = ("Speed and memory: long stereo 8 kHz calls made by tiling tests/data/sample_call.flac; each run in a fresh "
             "single-threaded process; wall and CPU time (the machine is shared: CPU time is the steadier figure)")
    write(out, "speed", title, speed_markdown(suite), {"minutes": minutes, **suite})


def _timed_cli(args: list[str]) -> dict:
    """Run a command; wall time and CPU time of it and its children (s)."""
    import resource
    import subprocess

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(args, capture_output=True, text=True, cwd=REPO)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return {"wall_s": wall, "cpu_s": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
            "command": " ".join(args)}


def bench_throughput(out: Path, *, quick: bool, emotion: bool = True) -> None:
    """Hours of audio per hour of wall time: a folder of simulated calls through the CLI with --jobs 2."""
    import tempfile

    import soundfile as sf

    n, seed = (2, 11) if quick else (200, 11)
    calls = _simulated_folder(n, seed)
    audio_s = sum(sf.info(str(p)).duration for p in calls.glob("*.wav"))
    engines = (("process pool, --jobs 2", ["--jobs", "2"]), ("Dask LocalCluster, --scheduler local:2", ["--scheduler", "local:2"]))
    pipelines = (("pacing + prosody (--no-emotion)", ["--no-emotion"]), ("full (with emotion)", []))
    runs = {}
    for engine, engine_args in engines:
        for label, extra in pipelines:
            if extra == [] and not emotion:
                continue
            with tempfile.TemporaryDirectory() as results:
                r = _timed_cli(["call-analyzer", "analyze", str(calls), "--out", results, *engine_args, "--force",
                                "--quiet", *extra])
                analysed = len(list((Path(results) / "calls").glob("*.json")))
            runs[f"{engine} | {label}"] = {**r, "engine": engine, "pipeline": label, "calls": analysed,
                                           "audio_h_per_wall_h": audio_s / r["wall_s"],
                                           "audio_h_per_cpu_h": audio_s / r["cpu_s"]}
    lines = ["| engine | pipeline | calls | audio | wall | CPU | hours of audio per hour (wall) | per CPU hour |",
             "|---|---|---|---|---|---|---|---|"]
    for r in runs.values():
        lines.append(f"| {r['engine']} | {r['pipeline']} | {r['calls']} | {audio_s / 3600:.2f} h | {r['wall_s']:.0f} s | "
                     f"{r['cpu_s']:.0f} s | {r['audio_h_per_wall_h']:,.0f} | {r['audio_h_per_cpu_h']:,.0f} |")
    title = (f"Throughput: a folder of {n} simulated stereo calls (8 kHz mu-law WAV, scripts/simulate_calls.py --seed {seed}) "
             "through `call-analyzer analyze`, two worker processes (process pool and a local Dask cluster); wall time "
             "includes start-up (model loading, for Dask the cluster start); CPU time counts the workers")
    write(out, "throughput", title, "\n".join(lines), {"n_calls": n, "seed": seed, "audio_s": audio_s, "runs": runs})


PEER_SCRIPT = r"""
import sys
from pathlib import Path
from call_ai_metrics import analyze
for path in sorted(Path(sys.argv[1]).glob("*.wav")):
    analyze(str(path), speakers=["agent", "customer"])
"""


def _measured_process(args: list[str], *, env: dict | None = None, cwd: Path = REPO) -> dict:
    """Run one command to its end: its own wall time, CPU time (user + system) and peak RSS (``os.wait4``)."""
    import subprocess

    start = time.perf_counter()
    child = subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    stderr = child.stderr.read()
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    if child.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({child.returncode}):\n{stderr.decode(errors='replace')[-2000:]}")
    return {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime, "peak_rss_mb": usage.ru_maxrss / 1024}


def bench_jobs_scaling(out: Path, *, quick: bool, rounds: int | None = None) -> None:
    """Wall-clock speed-up of ``--jobs 2`` over one job on one folder of simulated calls (issue 16: >= 1.8x
    on the 2-core machine), with and without emotion. One job is run twice: with the default of one
    compute thread and with ``--threads 2`` (torch on both cores), so the speed-up is given against both. Within a pipeline the three runs alternate, in an order rotated per round; the
    CPU time of the parent (writing the outputs) is given apart from the workers'."""
    import statistics
    import tempfile

    import soundfile as sf

    n, seed = (2, 11) if quick else (200, 11)
    rounds = rounds or 1
    calls = _simulated_folder(n, seed)
    audio_s = sum(sf.info(str(p)).duration for p in calls.glob("*.wav"))
    pipelines = (("pacing + prosody (--no-emotion)", ["--no-emotion"]), ("full (with emotion)", []))
    variants = (("--jobs 1", ["--jobs", "1"]), ("--jobs 1 --threads 2", ["--jobs", "1", "--threads", "2"]),
                ("--jobs 2", ["--jobs", "2"]))
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    env["PYTHONPATH"] = str(REPO)
    rows: dict[str, list[dict]] = {}
    for label, extra in pipelines:
        for r in range(rounds):
            order = list(variants[r % len(variants):] + variants[: r % len(variants)])
            for name, args in order:
                with tempfile.TemporaryDirectory() as results:
                    measured = _parent_and_workers([sys.executable, "-m", "analyzer", "analyze", str(calls), "--out",
                                                    results, "--force", "--quiet", *args, *extra], env=env)
                rows.setdefault(f"{label} | {name}", []).append(measured)
                print(f"{label} | {name}: {measured}", file=sys.stderr)
    lines = ["| pipeline | run | wall | CPU (workers + parent) | hours of audio per hour | --jobs 2 speed-up over it (wall) |",
             "|---|---|---|---|---|---|"]
    for label, _ in pipelines:
        two = rows[f"{label} | --jobs 2"]
        for name, _ in variants:
            runs = rows[f"{label} | {name}"]
            wall = statistics.median(x["wall_s"] for x in runs)
            cpu = statistics.median(x["cpu_s"] for x in runs)
            parent = statistics.median(x["parent_cpu_s"] for x in runs)
            speedup = [a["wall_s"] / b["wall_s"] for a, b in zip(runs, two)]
            lines.append(f"| {label} | {name} | {wall:.0f} s | {cpu:.0f} s ({cpu - parent:.0f} + {parent:.1f}) | "
                         f"{audio_s / wall:,.0f} | " + ("-" if name == "--jobs 2" else
                                                       f"{statistics.median(speedup):.2f}x ({min(speedup):.2f}-{max(speedup):.2f})") + " |")
    title = (f"Scaling over worker processes: {n} simulated stereo calls (8 kHz mu-law WAV, seed {seed}, "
             f"{audio_s / 3600:.2f} h of audio) through `python -m analyzer analyze` with --jobs 1 (one thread, the default, and "
             f"--threads 2) and --jobs 2 on the 2-core machine, {rounds} round(s) alternating; wall time of the whole "
             "command, start-up and output writing (HTML pages too) included")
    write(out, "jobs_scaling", title, "\n".join(lines), {"n_calls": n, "seed": seed, "audio_s": audio_s, "rounds": rounds,
                                                         "runs": rows})
    print("\n".join(lines))


PARENT_CPU = ("import resource, sys, runpy; sys.argv = ['analyzer', *sys.argv[1:]]\n"
              "try:\n    runpy.run_module('analyzer', run_name='__main__')\nfinally:\n"
              "    u = resource.getrusage(resource.RUSAGE_SELF); sys.stderr.write(f'PARENT_CPU {u.ru_utime + u.ru_stime}\\n')\n")


def _parent_and_workers(args: list[str], *, env: dict) -> dict:
    """Run ``python -m analyzer ...`` (``args``); wall, CPU of it and its workers, and the parent's own CPU."""
    import subprocess

    start = time.perf_counter()
    child = subprocess.Popen([args[0], "-c", PARENT_CPU, *args[3:]], cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE)
    stderr = child.stderr.read().decode(errors="replace")
    _, status, usage = os.wait4(child.pid, 0)  # the child's usage with that of the workers it reaped
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{stderr[-2000:]}")
    parent = float(next(line.split()[1] for line in stderr.splitlines() if line.startswith("PARENT_CPU")))
    return {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime, "parent_cpu_s": parent, "command": " ".join(args)}


def _simulated_folder(n: int, seed: int) -> Path:
    """``n`` simulated stereo calls (scripts/simulate_calls.py), cached in the temp folder across runs."""
    import shutil
    import tempfile

    calls = Path(tempfile.gettempdir()) / f"call-analyzer-bench-calls-{n}-seed{seed}"
    if not calls.exists() or len(list(calls.glob("*.wav"))) < n:
        shutil.rmtree(calls, ignore_errors=True)
        _timed_cli([sys.executable, "scripts/simulate_calls.py", "--n", str(n), "--seed", str(seed), "--out", str(calls)])
    return calls


def bench_vs_peers(out: Path, *, quick: bool, rounds: int | None = None, baseline: str | None = None) -> None:
    """Whole processes on one folder of simulated calls, alternating: ours (pacing + prosody, pacing
    only, optionally everything) and call-ai-metrics' ``analyze()`` over the same files in one process.

    Each round runs every system once, in an order rotated by one per round; per round the CPU time
    of each system is divided by call-ai-metrics' in that round (paired), and the table gives the
    median ratio and its range over the rounds. CPU time = user + system of the process and its
    children; start-up (imports, model loading) and writing the outputs are included. Peak RSS is
    the process's own (``os.wait4``); Linux carries the parent's high-water mark into a forked
    child, so this runner imports nothing heavy (its ~30 MB are the floor of every figure).
    ``baseline``: another checkout of call-analyzer (e.g. the main branch) to run beside this one,
    pacing + prosody and pacing only (through a config with ``[prosody] enabled = false``).
    """
    import shutil
    import statistics
    import tempfile

    import soundfile as sf

    n, seed = (2, 11) if quick else (40, 1)  # quick: the throughput smoke test's folder
    rounds = rounds or (1 if quick else 5)
    calls = _simulated_folder(n, seed)
    audio_s = sum(sf.info(str(p)).duration for p in calls.glob("*.wav"))
    env = {**os.environ, "PYTHONPATH": str(REPO)}  # this checkout's analyzer, whatever is installed
    ours = [sys.executable, "-m", "analyzer", "analyze", str(calls), "--force", "--no-html", "--quiet"]
    systems = {
        "call-analyzer --no-emotion (pacing + prosody)": ours + ["--no-emotion"],
        "call-analyzer --no-emotion --no-prosody (pacing)": ours + ["--no-emotion", "--no-prosody"],
        "call-analyzer, everything (emotion too)": ours,
        "call-ai-metrics analyze(), one process": [sys.executable, "-c", PEER_SCRIPT, str(calls)],
    }
    peer = "call-ai-metrics analyze(), one process"
    envs = {name: env for name in systems}
    workdir = Path(tempfile.mkdtemp())
    if baseline:
        pacing_only = workdir / "pacing_only.toml"
        pacing_only.write_text("[prosody]\nenabled = false\n")
        other = {**os.environ, "PYTHONPATH": str(Path(baseline).resolve())}
        for name, extra in ((f"baseline {baseline} --no-emotion", []),
                            (f"baseline {baseline} --no-emotion, [prosody] enabled = false", ["--config", str(pacing_only)])):
            systems[name] = ours + ["--no-emotion", *extra]
            envs[name] = other
    names = list(systems)
    runs: dict[str, list[dict]] = {name: [] for name in names}
    for r in range(rounds):
        order = names[r % len(names):] + names[: r % len(names)]
        for name in order:
            with tempfile.TemporaryDirectory() as results:
                args = systems[name] + (["--out", results] if name != peer else [])
                runs[name].append(_measured_process(args, env=envs[name], cwd=workdir))  # PYTHONPATH picks the checkout
            print(f"round {r + 1}/{rounds}: {name}: {runs[name][-1]['cpu_s']:.2f} s CPU", file=sys.stderr)
    shutil.rmtree(workdir, ignore_errors=True)
    rows = {}
    for name in names:
        cpu = [x["cpu_s"] for x in runs[name]]
        ratios = [x["cpu_s"] / p["cpu_s"] for x, p in zip(runs[name], runs[peer])]
        rows[name] = {"cpu_s_median": statistics.median(cpu), "wall_s_median": statistics.median(x["wall_s"] for x in runs[name]),
                      "peak_rss_mb_max": max(x["peak_rss_mb"] for x in runs[name]),
                      "x_real_time_cpu": audio_s / statistics.median(cpu),
                      "ratio_to_peer_median": statistics.median(ratios), "ratio_to_peer_min": min(ratios),
                      "ratio_to_peer_max": max(ratios), "runs": runs[name], "command": " ".join(systems[name])}
    lines = [f"| system | CPU (median) | wall (median) | x real time (CPU) | peak RSS | CPU / call-ai-metrics' (median, range over {rounds} rounds) |",
             "|---|---|---|---|---|---|"]
    for name, row in rows.items():
        lines.append(f"| {name} | {row['cpu_s_median']:.2f} s | {row['wall_s_median']:.2f} s | {row['x_real_time_cpu']:,.0f}x | "
                     f"{row['peak_rss_mb_max']:.0f} MB | {row['ratio_to_peer_median']:.2f} "
                     f"({row['ratio_to_peer_min']:.2f}-{row['ratio_to_peer_max']:.2f}) |")
    title = (f"Ours vs call-ai-metrics, whole processes: {n} simulated stereo 8 kHz calls (scripts/simulate_calls.py "
             f"--seed {seed}, {audio_s / 60:.1f} min of audio), {rounds} rounds, each system once per round in a rotated "
             "order; CPU = user + system time of the process (start-up and writing included; ours without HTML pages); "
             "ratios paired within a round")
    write(out, "vs_peers", title, "\n".join(lines), {"n_calls": n, "seed": seed, "audio_s": audio_s, "rounds": rounds,
                                                     "systems": rows})
    print("\n".join(lines))


def bench_startup(out: Path, *, quick: bool, rounds: int | None = None, baseline: str | None = None) -> None:
    """Start-up cost: whole ``analyze`` processes on one 30-second stereo 8 kHz call (the sample call's
    first 30 s), HTML pages included, alternating the variants; median CPU, largest peak RSS. With
    ``baseline`` (another checkout) each variant runs from both checkouts in the same rotation."""
    import statistics
    import tempfile

    from bench_speed import make_long_call

    rounds = rounds or (1 if quick else 5)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    variants = {
        "--no-emotion --no-prosody": ["--no-emotion", "--no-prosody"],
        "--no-emotion": ["--no-emotion"],
        "everything (emotion too)": [],
    }
    envs = dict.fromkeys(variants, env)
    if baseline:
        other = {**os.environ, "PYTHONPATH": str(Path(baseline).resolve())}
        for name, flags in list(variants.items()):
            variants[f"baseline {baseline}: {name}"] = flags
            envs[f"baseline {baseline}: {name}"] = other
    runs: dict[str, list[dict]] = {name: [] for name in variants}
    with tempfile.TemporaryDirectory() as workdir:
        call = make_long_call(0.5, Path(workdir))
        for r in range(rounds):
            names = list(variants)
            for name in names[r % len(names):] + names[: r % len(names)]:
                with tempfile.TemporaryDirectory() as results:
                    runs[name].append(_measured_process(
                        [sys.executable, "-m", "analyzer", "analyze", str(call), "--out", results, "--force", "--quiet",
                         *variants[name]], env=envs[name], cwd=Path(workdir)))  # cwd: not a checkout (sys.path[0])
    lines = [f"| `call-analyzer analyze` on a 30 s call | CPU (median of {rounds}) | wall (median) | peak RSS (max) |",
             "|---|---|---|---|"]
    rows = {}
    for name, measured in runs.items():
        rows[name] = {"cpu_s_median": statistics.median(x["cpu_s"] for x in measured),
                      "wall_s_median": statistics.median(x["wall_s"] for x in measured),
                      "peak_rss_mb_max": max(x["peak_rss_mb"] for x in measured), "runs": measured}
        lines.append(f"| {name} | {rows[name]['cpu_s_median']:.2f} s | {rows[name]['wall_s_median']:.2f} s | "
                     f"{rows[name]['peak_rss_mb_max']:.0f} MB |")
    title = ("Start-up: whole `call-analyzer analyze` processes on a 30-second stereo 8 kHz call (tests/data/sample_call.flac, "
             "first 30 s), outputs and HTML pages written, variants alternating")
    write(out, "startup", title, "\n".join(lines), {"rounds": rounds, "variants": rows})
    print("\n".join(lines))


BENCHES = {"pacing": bench_pacing, "ami": bench_ami, "emotion": bench_emotion, "speed": bench_speed,
           "throughput": bench_throughput, "pacing-mono": bench_pacing_mono, "vs-peers": bench_vs_peers,
           "startup": bench_startup, "jobs-scaling": bench_jobs_scaling}
ALL = ("pacing", "ami", "emotion", "speed", "throughput", "vs-peers", "startup")  # pacing includes pacing-mono


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bench", choices=[*BENCHES, "all"])
    parser.add_argument("--quick", action="store_true", help="tiny inputs (smoke test): checks the tables, measures nothing")
    parser.add_argument("--out", default=str(REPO / "bench"), help="folder for the .md and .json outputs (default: bench/)")
    parser.add_argument("--baseline", help="vs-peers, startup: another call-analyzer checkout to measure beside this one")
    parser.add_argument("--rounds", type=int, default=None, help="vs-peers, startup (default 5), jobs-scaling (default 1): rounds of alternating runs")
    args = parser.parse_args(argv)
    for name in (ALL if args.bench == "all" else [args.bench]):
        if name not in ("vs-peers", "startup", "jobs-scaling"):  # these measure child processes (peak RSS, threads)
            import torch

            torch.set_num_threads(1)
        extra = {"rounds": args.rounds} if name in ("vs-peers", "startup", "jobs-scaling") else {}
        if name in ("vs-peers", "startup"):
            extra["baseline"] = args.baseline
        BENCHES[name](Path(args.out), quick=args.quick, **extra)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
