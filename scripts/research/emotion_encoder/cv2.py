import sys, numpy as np
from cv1 import run, corpora
for layers, C, fun in [((3,), 0.01, True), ((2, 3), 0.01, False), ((3,), 0.003, False), ((3,), 0.01, False)]:
    r, _ = run(layers, C, fun)
    print(corpora, layers, C, "fun" if fun else "", {k: round(v, 3) for k, v in r.items()}, round(np.mean(list(r.values())), 3), flush=True)
r, _ = run((3,), 0.01, False, use_aug=False); print("no aug", {k: round(v, 3) for k, v in r.items()})
