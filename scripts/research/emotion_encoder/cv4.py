"""open: heads trained on EmoDB only, tested on the other TRAINING corpora (RAVDESS, nEMO) per layer: rel and abs."""
import numpy as np, time
from cvlib import *
ds = {c: load(c) for c in ("emodb", "ravdess", "nemo")}
e = ds["emodb"]; idx = np.arange(len(e["y"]))
for l in (1, 2, 3, 4):
    L = (l,); t = time.time()
    mr = fit(*train_set([e], [idx], L), C=0.01); ma = fit(*train_abs([e], [idx], L), C=0.01)
    out = []
    for c in ("ravdess", "nemo"):
        d = ds[c]; i = np.arange(len(d["y"]))
        for cond in ("clean", "phone"):
            pr = proba(mr, feats(d, cond, L, i)); pa = proba(ma, feats_abs(d, cond, L, i))
            out.append((c, cond, round(uar(d["y"], pr), 3), round(uar(d["y"], pa), 3), round(uar(d["y"], fuse(pr, pa, 0.5)), 3)))
    print(L, "EmoDB->(ravdess,nemo) [rel, abs, fuse0.5]:", out, "mean rel", round(np.mean([o[2] for o in out]), 3), "abs", round(np.mean([o[3] for o in out]), 3), f"{time.time()-t:.0f}s", flush=True)
