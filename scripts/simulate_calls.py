"""Simulate two-party telephone calls with exact ground truth (see docs/simulator.md).

    python scripts/simulate_calls.py --n 40 --seed 1 --out /tmp/calls [--mono] [--snr-db 10]
        [--crosstalk-db -25] [--rate 8000] [--no-telephone]

Writes <out>/call_0000.wav + call_0000.truth.json, ... and prints one line per call.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analyzer.errors import AnalyzerError  # noqa: E402
from callsim.simulate import SimulationParams, call_seed, simulate_call, write_call  # noqa: E402

DEFAULT_CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpora"


def main(argv: list[str] | None = None) -> int:
    defaults = SimulationParams()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--n", type=int, default=10, help="number of calls")
    ap.add_argument("--seed", type=int, default=0, help="cohort seed (call i uses an independent stream)")
    ap.add_argument("--out", type=Path, required=True, help="output folder")
    ap.add_argument("--corpora", type=Path, default=DEFAULT_CORPORA, help="the shared/corpora folder")
    ap.add_argument("--prefix", default="call", help="file name prefix")
    ap.add_argument("--mono", action="store_true", help="write the mono mix instead of stereo")
    ap.add_argument("--snr-db", type=float, default=defaults.snr_db, help="line noise SNR per channel")
    ap.add_argument("--no-noise", action="store_true", help="no line noise")
    ap.add_argument("--crosstalk-db", type=float, default=None,
                    help=f"leak of each party into the other channel (default: drawn in {defaults.crosstalk_range_db})")
    ap.add_argument("--rate", type=int, default=defaults.sample_rate_hz, help="output sample rate in Hz")
    ap.add_argument("--no-telephone", action="store_true", help="no 300-3400 Hz band-limit and no mu-law")
    ap.add_argument("--turns", type=int, default=defaults.n_turns, help="turns per call")
    ap.add_argument("--duration-s", type=float, default=None, help="target call duration instead of --turns")
    ap.add_argument("--agent-latency-s", type=float, default=defaults.agent_latency_mean_s)
    ap.add_argument("--customer-latency-s", type=float, default=defaults.customer_latency_mean_s)
    ap.add_argument("--agent-interrupt-prob", type=float, default=defaults.agent_interrupt_prob)
    ap.add_argument("--customer-emotion", default=",".join(defaults.customer_emotion), help="start,end")
    ap.add_argument("--agent-emotion", default=",".join(defaults.agent_emotion), help="start,end")
    ap.add_argument("--truth-threshold-db", type=float, default=defaults.truth_threshold_db,
                    help="truth: speech down to this many dB below each clip's in-band peak")
    ap.add_argument("--audible-truth", action="store_true",
                    help="truth = speech at least 3 dB above the line noise (depends on --snr-db)")
    ap.add_argument("--params-json", type=str, default=None, help="more SimulationParams fields as a JSON object")
    args = ap.parse_args(argv)

    overrides = dict(
        n_turns=args.turns, target_duration_s=args.duration_s, sample_rate_hz=args.rate,
        telephone=not args.no_telephone, snr_db=None if args.no_noise else args.snr_db, crosstalk_db=args.crosstalk_db,
        agent_latency_mean_s=args.agent_latency_s, customer_latency_mean_s=args.customer_latency_s,
        agent_interrupt_prob=args.agent_interrupt_prob,
        truth_threshold_db=None if args.audible_truth else args.truth_threshold_db,
        customer_emotion=tuple(args.customer_emotion.split(",")), agent_emotion=tuple(args.agent_emotion.split(",")),
    )
    if args.params_json:
        extra = json.loads(args.params_json)
        overrides.update({k: tuple(v) if isinstance(v, list) else v for k, v in extra.items()})
    started = time.perf_counter()
    try:
        for i in range(args.n):
            call = simulate_call(SimulationParams(seed=call_seed(args.seed, i), **overrides), corpora_root=args.corpora)
            wav = write_call(call, args.out, f"{args.prefix}_{i:04d}", mono=args.mono)
            t, s = call.truth, call.truth["summary"]
            print(
                f"{wav}  {t['duration_s']:.1f} s  agent={t['speakers']['agent']['corpus_speaker']} "
                f"customer={t['speakers']['customer']['corpus_speaker']}  turns={s['turns_agent']}+{s['turns_customer']} "
                f"talk_ratio_agent={s['talk_ratio_agent']:.2f} interruptions={len(t['interruptions'])} "
                f"backchannels={len(t['backchannels'])} dead_air={s['dead_air_count']}"
            )
    except AnalyzerError as exc:
        print(f"error: {exc.one_line()}", file=sys.stderr)
        return 2
    except TypeError as exc:
        print(f"error: bad --params-json ({exc})", file=sys.stderr)
        return 2
    print(f"wrote {args.n} calls (+ .truth.json) to {args.out} in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
