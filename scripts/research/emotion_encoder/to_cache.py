"""Fill the product's feature cache (EncoderFeatureSet per corpus, one layer) from the lab's all-layer extraction
(the same computation: verified equal to 3e-4 relative, the lab stored float16)."""
import sys, pickle, numpy as np
import analyzer.emotion.train.corpora as _c; sys.modules["analyzer.emotion.corpora"] = _c
from pathlib import Path
from analyzer.emotion.encoder import ENCODER_SHA256
from analyzer.emotion.train.encoder_heads import EncoderFeatureSet, CACHE_DIR, AUGMENT_SEED
from analyzer.emotion.train.corpora import list_clips
layer = int(sys.argv[1])
for corpus in sys.argv[2].split(","):
    r = pickle.load(open(f"/work/emo-lab/feat_{corpus}.pkl", "rb"))
    clips = list_clips(corpus, "/work/shared/corpora")
    assert [c.path for c in clips] == [c.path for c in r["clips"]], corpus
    n_aug = len(r["aug"][0]) if r["aug"] and r["aug"][0] else 0
    clean = np.stack(r["clean"])[:, layer].astype(np.float32); phone = np.stack(r["phone"])[:, layer].astype(np.float32)
    aug = np.stack([np.stack(a)[:, layer] for a in r["aug"]]).astype(np.float32) if n_aug else np.zeros((len(clips), 0, 1024), np.float32)
    fs = EncoderFeatureSet([c.path for c in clips], [c.label for c in clips], [c.speaker for c in clips], [c.corpus for c in clips], clean, phone, aug)
    name = f"{corpus}-whisper{ENCODER_SHA256[:8]}-layer{layer}-aug{n_aug}-seed{AUGMENT_SEED}.pkl"
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    pickle.dump(fs, open(CACHE_DIR / name, "wb"), protocol=pickle.HIGHEST_PROTOCOL)
    print("wrote", CACHE_DIR / name, clean.shape, aug.shape)
