"""Won-vs-lost through the whole product: simulator -> analyze -> compare.

Won calls: agents answer quickly (mean 0.3 s) and rarely interrupt; lost calls:
slow answers (1.5 s) and frequent interruptions. Speakers, pitch, pace and
backchannels are drawn the same way in both groups, so those must not come out as
findings. (The agent's loudness variation is not a clean null: lost agents produce
many more interruption pieces cut from sentences, and it came out at delta 0.66,
q = 0.013 when this test was written; it is left out of the null list for that
reason.) Emotion is off here: the shipped model does not recover the simulated
customer-emotion trajectory reliably (see the emotion model card).
"""

import pytest
import soundfile as sf

from analyzer.batch import analyze_files
from analyzer.compare import compare_outcomes, labels_by_folder, load_results
from analyzer.config import AnalysisConfig
from callsim.simulate import SimulationParams, call_seed, simulate_call
from test_compare import check_cohort_result

GROUPS = {
    "won": {"agent_latency_mean_s": 0.3, "agent_interrupt_prob": 0.02, "agent_attempt_prob": 0.01},
    "lost": {"agent_latency_mean_s": 1.5, "agent_interrupt_prob": 0.3, "agent_attempt_prob": 0.2},
}
N_PER_GROUP = 16


@pytest.fixture(scope="module")
def cohort(corpora, tmp_path_factory):
    root = tmp_path_factory.mktemp("cohort")
    for g, (group, overrides) in enumerate(GROUPS.items()):
        (root / "calls" / group).mkdir(parents=True)
        for i in range(N_PER_GROUP):
            params = SimulationParams(seed=call_seed(100 + g, i), n_turns=24, **overrides)
            call = simulate_call(params, corpora_root=corpora)
            sf.write(root / "calls" / group / f"call{i:02d}.wav", call.stereo, call.sample_rate_hz, subtype="ULAW")
    out = root / "results"
    config = AnalysisConfig().replace(emotion={"enabled": False})
    summary = analyze_files([root / "calls"], config, out_dir=out, progress=False, jobs=2, html=False)
    assert summary.exit_code == 0
    calls = load_results(out)
    return compare_outcomes(calls, labels_by_folder(calls.index), positive="won", n_boot=500)


def test_simulated_cohort_finds_real_pacing_differences_with_right_sign_and_no_null_findings(cohort):
    check_cohort_result(
        cohort,
        real={"agent_latency_median_s": -1, "interruptions_by_agent": -1},
        null=("pitch_sd_agent_st", "speech_rate_agent_sps", "backchannels_customer", "pitch_median_customer_st",
              "speech_rate_customer_sps", "energy_sd_customer_db"),
        min_auc=0.75,
    )
    assert cohort.group_sizes == {"won": N_PER_GROUP, "lost": N_PER_GROUP}
