"""Extract pooled Whisper-base hidden states (mean+std per layer 0..6) + 44 functionals for a corpus.
usage: python extract.py CORPUS N_AUG"""
import sys, time, pickle, glob, os, numpy as np, soundfile as sf, torch
sys.path.insert(0, "/work/main")
from analyzer.emotion.train.corpora import list_clips, Clip
from analyzer.emotion.train.augment import simulate_phone, random_channel, resample
from analyzer.emotion.features import peak_normalise, to_feature_rate, log_mel
from analyzer.emotion.functionals import functionals
from wenc import build, mel, hidden
torch.set_num_threads(1)
ROOT = "/work/shared/corpora"
_ASED = {"01Neutral": "neutral", "03Happy": "happy", "04Sad": "sad", "05Angry": "angry"}

def clips_of(corpus):
    if corpus == "ased":
        out = []
        for folder, label in _ASED.items():
            for p in sorted(glob.glob(f"{ROOT}/ased/{folder}/*.flac")):
                out.append(Clip(p, label, "ased:" + os.path.basename(p)[:-5].split("-")[4], "ased"))
        return sorted(out, key=lambda c: c.path)
    return list_clips(corpus, ROOT)

def pooled(enc, x, rate):
    x16 = resample(x, rate, 16000)
    hs, _ = hidden(enc, mel(x16), 6)
    return np.stack([np.concatenate([h.mean(0).numpy(), h.std(0).numpy()]) for h in hs]).astype(np.float16)  # (7, 1024)

def main(corpus, n_aug):
    enc = build()
    clips = clips_of(corpus)
    rec = {"clips": clips, "clean": [], "phone": [], "aug": [], "fun_clean": [], "fun_phone": []}
    t0 = time.time(); c0 = time.process_time(); audio_s = 0.0
    for i, c in enumerate(clips):
        x, sr = sf.read(c.path, dtype="float32")
        if x.ndim > 1: x = x.mean(1)
        x = peak_normalise(x)
        ph = simulate_phone(x, sr)
        rec["clean"].append(pooled(enc, x, sr)); rec["phone"].append(pooled(enc, ph, 8000)); audio_s += 2 * len(x) / sr
        x8 = to_feature_rate(x, sr)
        rec["fun_clean"].append(functionals(x8, log_mel(x8))); rec["fun_phone"].append(functionals(ph, log_mel(ph)))
        augs = []
        for k in range(n_aug):
            rng = np.random.default_rng([7, i, k])
            y, r = random_channel(x, sr, rng)
            augs.append(pooled(enc, peak_normalise(y), r)); audio_s += len(x) / sr
        rec["aug"].append(augs)
        if i % 200 == 0: print(corpus, i, len(clips), round(time.time() - t0), flush=True)
    rec["speed"] = {"audio_s_encoded": audio_s, "cpu_s": time.process_time() - c0, "wall_s": time.time() - t0}
    print(corpus, rec["speed"], "x real time per core (incl. functionals, aug):", audio_s / rec["speed"]["cpu_s"])
    pickle.dump(rec, open(f"/work/emo-lab/feat_{corpus}.pkl", "wb"))

if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
