import sys, numpy as np, itertools, time
from cvlib import *
corpora = sys.argv[1].split(",")
ds = [load(c) for c in corpora]
folds = [folds_by_speaker(d) for d in ds]
def run(layers, C, fun=False, use_aug=True):
    res = {}
    oof = {c: [np.zeros((len(d["y"]), 4)) for d in ds] for c in ("clean", "phone")}
    for f in range(5):
        tr = [np.where(~fo[f])[0] for fo in folds]; te = [np.where(fo[f])[0] for fo in folds]
        m = fit(*train_set(ds, tr, layers, fun, use_aug), C=C)
        for c in ("clean", "phone"):
            for j, d in enumerate(ds):
                oof[c][j][te[j]] = proba(m, feats(d, c, layers, te[j], fun))
    y = np.concatenate([d["y"] for d in ds])
    return {c: uar(y, np.vstack(oof[c])) for c in oof}, oof
if __name__ == "__main__":
    configs = [((l,), C) for l in range(7) for C in (0.01, 0.1)]
    for layers, C in configs:
        t = time.time(); r, _ = run(layers, C)
        print(corpora, layers, C, {k: round(v, 3) for k, v in r.items()}, round(np.mean(list(r.values())), 3), f"{time.time()-t:.0f}s", flush=True)
