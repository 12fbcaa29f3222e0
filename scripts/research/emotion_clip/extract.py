"""int8 shipped encoder (blocks 0..2): per clip version pooled stats of the stem, block 1, block 2.
usage: python extract.py CORPUS N_AUG   -> /tmp/emo13c/f_CORPUS.pkl"""
import sys, time, pickle, numpy as np, torch
sys.path.insert(0, "/work/wt-13c")
from analyzer.emotion.encoder import WhisperFeatureEncoder, log_mel_16k, MAX_SAMPLES
from analyzer.emotion.train.corpora import list_clips
from analyzer.emotion.train.encoder_heads import clip_versions
from analyzer.emotion.train.fit import read_clip
torch.set_num_threads(1)

def levels(enc, clip):
    e = enc._encoder; out = [[], [], []]
    with torch.inference_mode():
        for a in range(0, max(clip.size, 1), MAX_SAMPLES):
            mel = log_mel_16k(clip[a:a + MAX_SAMPLES])
            x = torch.from_numpy(np.ascontiguousarray(mel, dtype=np.float32))[None]
            h = torch.nn.functional.gelu(e.conv2(torch.nn.functional.gelu(e.conv1(x)))).permute(0, 2, 1)
            h = h + e.embed_positions.weight[: h.shape[1]]
            out[0].append(h[0].numpy().astype(np.float32))
            for i, layer in enumerate(e.layers):
                h = layer(h, attention_mask=None); h = h[0] if isinstance(h, tuple) else h
                out[i + 1].append(h[0].numpy().astype(np.float32))
    return [np.concatenate(o) for o in out]

def stats(hs):
    r = {}
    for i, h in enumerate(hs):
        dd = 1 if len(h) > 1 else 0
        r[f"m{i}"] = h.mean(0); r[f"s{i}"] = h.std(0, ddof=dd)
    h = hs[2]
    r["d2"] = np.abs(np.diff(h, axis=0)).mean(0) if len(h) > 1 else np.zeros(512, np.float32)
    c = h - h.mean(0); sd = c.std(0) + 1e-6
    r["k2"] = ((c / sd) ** 3).mean(0)
    r["n"] = len(h)
    return r

corpus, n_aug = sys.argv[1], int(sys.argv[2])
enc = WhisperFeatureEncoder(2, int8=True)
clips = list_clips(corpus)
rec = {"paths": [c.path for c in clips], "labels": [c.label for c in clips], "speakers": [c.speaker for c in clips], "versions": []}
t0 = time.process_time()
for i, c in enumerate(clips):
    audio, rate = read_clip(c.path)
    vs = clip_versions(audio, rate, n_aug, i)
    rec["versions"].append([stats(levels(enc, v)) for v in vs])
    if i % 300 == 0: print(corpus, i, len(clips), round(time.process_time() - t0), flush=True)
rec["cpu_s"] = time.process_time() - t0
pickle.dump(rec, open(f"/tmp/emo13c/f_{corpus}.pkl", "wb"))
print(corpus, "done cpu", rec["cpu_s"], flush=True)
