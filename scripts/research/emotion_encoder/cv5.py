"""multi block 2: relative head with and without the 44 speaker-z functionals appended (CV + LOCO)."""
import numpy as np, time
from cvlib import *
names = ["emodb", "ravdess", "nemo"]
ds = [load(c) for c in names]
kf = [folds_by_speaker(d) for d in ds]
loco = [[np.ones(len(d["y"]), bool) if j == f else np.zeros(len(d["y"]), bool) for f in range(3)] for j, d in enumerate(ds)]
for fun in (True,):
    t = time.time()
    o = oof_multi(ds, kf, (2,), 0.01, "rel", fun); r = pooled_uar(ds, o)
    ol = oof_multi(ds, loco, (2,), 0.01, "rel", fun); rl = {names[j]: pooled_uar(ds, ol, [j]) for j in range(3)}
    print("block 2 + functionals" if fun else "block 2", "CV", {k: round(v, 3) for k, v in r.items()}, "LOCO", {n: round(np.mean(list(v.values())), 3) for n, v in rl.items()},
          "LOCO mean", round(np.mean([np.mean(list(v.values())) for v in rl.values()]), 3), f"{time.time()-t:.0f}s", flush=True)
