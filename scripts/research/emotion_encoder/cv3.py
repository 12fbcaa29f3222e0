"""multi: speaker-grouped 5-fold CV (folds hold speakers of every corpus) and leave-one-corpus-out, layer x head."""
import sys, numpy as np, pickle, time
from cvlib import *
names = ["emodb", "ravdess", "nemo"]
ds = [load(c) for c in names]
kf = [folds_by_speaker(d) for d in ds]
loco = [[np.ones(len(d["y"]), bool) if j == f else np.zeros(len(d["y"]), bool) for f in range(3)] for j, d in enumerate(ds)]
res = {}
kinds = sys.argv[2].split(",") if len(sys.argv) > 2 else ["rel"]
for l in [int(v) for v in sys.argv[1].split(",")]:
    layers = (l,)
    for kind in kinds:
        t = time.time()
        o = oof_multi(ds, kf, layers, 0.01, kind); r = pooled_uar(ds, o)
        ol = oof_multi(ds, loco, layers, 0.01, kind); rl = {names[j]: pooled_uar(ds, ol, [j]) for j in range(3)}
        res[(layers, kind)] = (o, ol)
        print(layers, kind, "CV", {k: round(v, 3) for k, v in r.items()}, "LOCO", {n: round(np.mean(list(v.values())), 3) for n, v in rl.items()},
              "LOCO mean", round(np.mean([np.mean(list(v.values())) for v in rl.values()]), 3), f"{time.time()-t:.0f}s", flush=True)
        pickle.dump(res, open(f"cv3_oof_{sys.argv[1]}_{'-'.join(kinds)}.pkl", "wb"))
