"""Fill the training script's feature cache (/tmp/call-analyzer-emotion-cache) from extract.py's per-block statistics.

Same computation (the shipped int8 encoder, the training script's clip versions and seeds); checked equal to
WhisperFeatureEncoder.pooled(clip, blocks, stats) on sampled clips. usage: python to_cache.py BLOCKS [STATS] (e.g. 0,1,2 mean,std)"""
import sys, pickle, numpy as np
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from analyzer.emotion.encoder import ENCODER_SHA256
from analyzer.emotion.train.encoder_heads import AUGMENT_SEED, CACHE_DIR, EncoderFeatureSet

blocks = tuple(int(b) for b in sys.argv[1].split(","))
stats = tuple(sys.argv[2].split(",")) if len(sys.argv) > 2 else ("mean", "std")
KEY = {"mean": "m", "std": "s"}
for corpus, n_aug in (("emodb", 2), ("ravdess", 2), ("nemo", 2), ("tess", 0), ("turev", 0), ("ased", 0)):
    r = pickle.load(open(f"/tmp/emo13c/f_{corpus}.pkl", "rb"))
    rows = np.stack([np.stack([np.concatenate([np.concatenate([v[f"{KEY[k]}{b}"] for k in stats]) for b in blocks]) for v in vs[:2 + n_aug]])
                     for vs in r["versions"]]).astype(np.float32)
    fs = EncoderFeatureSet(r["paths"], r["labels"], r["speakers"], [corpus] * len(r["paths"]), rows[:, 0], rows[:, 1], rows[:, 2:])
    tag = "" if stats == ("mean", "std") else "-" + "".join(stats)
    name = f"{corpus}-whisper{ENCODER_SHA256[:8]}-layer2-blocks{''.join(map(str, blocks))}{tag}-int8-aug{n_aug}-seed{AUGMENT_SEED}.pkl"
    with open(CACHE_DIR / name, "wb") as h:
        pickle.dump(fs, h, protocol=pickle.HIGHEST_PROTOCOL)
    print("wrote", CACHE_DIR / name, rows.shape)
