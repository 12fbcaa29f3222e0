"""Head-fit experiments on the cached int8 features (extract.py). Training corpora only unless test=True."""
import sys, pickle, time, json, numpy as np
sys.path.insert(0, "/work/wt-13c")
from analyzer.emotion.linear import fit_head
from analyzer.emotion.functionals import fuse, uar
from analyzer.emotion.model import LABELS
from analyzer.emotion.train.encoder_heads import speaker_folds
W_GRID = tuple(round(0.1 * k, 1) for k in range(11))
_CACHE = {}

def load(corpus):
    if corpus not in _CACHE:
        r = pickle.load(open(f"/tmp/emo13c/f_{corpus}.pkl", "rb"))
        keys = [k for k in r["versions"][0][0] if k != "n"]
        nv = len(r["versions"][0])
        V = [{k: np.stack([r["versions"][i][v][k] for i in range(len(r["paths"]))]).astype(np.float64) for k in keys} for v in range(nv)]
        _CACHE[corpus] = {"y": np.array([LABELS.index(l) for l in r["labels"]]), "spk": np.array([f"{corpus}:{s}" for s in r["speakers"]]),
                          "V": V, "corpus": corpus, "nframes": np.array([r["versions"][i][0]["n"] for i in range(len(r["paths"]))])}
    return _CACHE[corpus]

def X(d, spec, v, idx):
    return np.hstack([d["V"][v][k][idx] for k in spec])

def spk_norm(x, spk, mode):
    out = np.zeros_like(x)
    for s in np.unique(spk):
        m = spk == s; xm = x[m]; mu = xm.mean(0)
        if mode == "z":
            out[m] = (xm - mu) / (xm.std(0) + 1e-6)
        elif mode == "c":
            out[m] = xm - mu
        elif mode.startswith("zs"):  # std shrunk toward 1 (features are standardised later anyway): blend with the global std
            a = float(mode[2:]); out[m] = (xm - mu) / (a * xm.std(0) + (1 - a) * _GSTD[0] + 1e-6)
    return out
_GSTD = [None]

def train_rows(ds, idxs, spec, n_aug, rel, mode):
    xs, ys, ws = [], [], []
    for d, idx in zip(ds, idxs):
        for v in [0, 1] + [2 + k for k in range(n_aug)]:
            x = X(d, spec, v, idx)
            xs.append(spk_norm(x, d["spk"][idx], mode) if rel else x); ys.append(d["y"][idx]); ws.append(np.full(len(idx), 1.0 / max(len(idx), 1)))
    W[0] = np.concatenate(ws)
    return np.vstack(xs), np.concatenate(ys)
W = [None]

def fit_head_balanced(x, y, n, c):
    """fit_head with corpus-balanced sample weights (each corpus the same total weight), classes balanced within."""
    from sklearn.linear_model import LogisticRegression
    from analyzer.emotion.linear import LinearHead, Z_CLIP
    w = W[0] * len(y) / W[0].sum()
    mean, scale = x.mean(0), x.std(0); scale = np.where(scale > 1e-9, scale, 1.0)
    cw = {k: len(y) / (n * np.sum(w[y == k]) / w.mean()) for k in np.unique(y)}
    lr = LogisticRegression(C=c, class_weight=cw, max_iter=3000).fit(np.clip((x - mean) / scale, -Z_CLIP, Z_CLIP), y, sample_weight=w)
    coef = np.zeros((n, x.shape[1])); icpt = np.full(n, -30.0); coef[lr.classes_], icpt[lr.classes_] = lr.coef_, lr.intercept_
    return LinearHead(mean, scale, coef, icpt)

def fit(ds, idxs, cfg):
    spec, n_aug = cfg["spec"], cfg.get("n_aug", 2)
    mode = cfg.get("norm", "z")
    if mode.startswith("zs"):
        _GSTD[0] = np.vstack([X(d, spec, 0, i) for d, i in zip(ds, idxs)]).std(0)
    fh = (lambda x, y, n, c: fit_head_balanced(x, y, n, c)) if cfg.get("balance") else (lambda x, y, n, c: fit_head(x, y, n, c=c))
    rel = fh(*train_rows(ds, idxs, spec, n_aug, True, mode), 4, cfg.get("c_rel", 0.01))
    ab = fh(*train_rows(ds, idxs, spec, n_aug, False, mode), 4, cfg.get("c_abs", 0.01)) if cfg.get("abs", True) else None
    return rel, ab, mode

def probs(heads, d, idx, spec, v):
    rel, ab, mode = heads
    x = X(d, spec, v, idx)
    pr = rel.predict_proba(spk_norm(x, d["spk"][idx], mode))
    pa = ab.predict_proba(x) if ab is not None else pr
    return pr, pa

def scores(y, pr, pa):
    return {"rel": uar(y, pr.argmax(1)), "abs": uar(y, pa.argmax(1)), **{f"w{w}": uar(y, fuse(pr, pa, w).argmax(1)) for w in W_GRID}}

def loco(cfg, names=("emodb", "ravdess", "nemo")):
    ds = {n: load(n) for n in names}; out = {}
    for held in names:
        tr = [ds[n] for n in names if n != held]
        heads = fit(tr, [np.arange(len(d["y"])) for d in tr], cfg)
        d = ds[held]; idx = np.arange(len(d["y"]))
        for v, cond in ((0, "16k"), (1, "8k")):
            out[f"{held}/{cond}"] = scores(d["y"], *probs(heads, d, idx, cfg["spec"], v))
        two_class_diag(out, heads, d, held, cfg)
    return out

def two_class_diag(out, heads, d, name, cfg):
    """TESS-like diagnostic (not a criterion): held-out speakers keep only neutral+angry clips."""
    idx = np.where(np.isin(d["y"], [0, 2]))[0]
    for v, cond in ((0, "16k"), (1, "8k")):
        DIAG[f"{name}/{cond}"] = scores(d["y"][idx], *probs(heads, d, idx, cfg["spec"], v))
    if cfg.get("n_aug", 2) <= 3:  # random channel copy k=3, never trained on when n_aug <= 3
        all_idx = np.arange(len(d["y"]))
        RAND[f"{name}/rand3"] = scores(d["y"], *probs(heads, d, all_idx, cfg["spec"], 5))
RAND = {}
DIAG = {}

def open_transfer(cfg):
    e = load("emodb"); heads = fit([e], [np.arange(len(e["y"]))], cfg); out = {}
    for n in ("ravdess", "nemo"):
        d = load(n); idx = np.arange(len(d["y"]))
        for v, cond in ((0, "16k"), (1, "8k")):
            out[f"{n}/{cond}"] = scores(d["y"], *probs(heads, d, idx, cfg["spec"], v))
        two_class_diag(out, heads, d, n, cfg)
    return out

def cv5(cfg, names):
    ds = [load(n) for n in names]
    spk = np.concatenate([d["spk"] for d in ds]); cor = np.concatenate([[d["corpus"]] * len(d["y"]) for d in ds])
    folds = speaker_folds(list(spk), list(cor), n_folds=5, seed=0)
    off = np.cumsum([0] + [len(d["y"]) for d in ds])
    P = {c: [np.zeros((len(d["y"]), 4)) for d in ds] for c in ("16k", "8k")}; A = {c: [np.zeros((len(d["y"]), 4)) for d in ds] for c in ("16k", "8k")}
    for f in range(5):
        tr = [np.where(folds[off[j]:off[j + 1]] != f)[0] for j in range(len(ds))]
        te = [np.where(folds[off[j]:off[j + 1]] == f)[0] for j in range(len(ds))]
        heads = fit(ds, tr, cfg)
        for j, d in enumerate(ds):
            for v, c in ((0, "16k"), (1, "8k")):
                P[c][j][te[j]], A[c][j][te[j]] = probs(heads, d, te[j], cfg["spec"], v)
    y = np.concatenate([d["y"] for d in ds])
    return {c: scores(y, np.vstack(P[c]), np.vstack(A[c])) for c in ("16k", "8k")}

def mean_of(res, key):
    return float(np.mean([r[key] for r in res.values()]))

def summary(res):
    keys = ["rel", "abs"] + [f"w{w}" for w in W_GRID]
    return {k: round(mean_of(res, k), 4) for k in keys}

if __name__ == "__main__":
    what = sys.argv[1]; cfg = json.loads(sys.argv[2]); tag = sys.argv[3]
    t = time.process_time()
    res = {"loco": loco, "open": open_transfer}[what](cfg) if what in ("loco", "open") else cv5(cfg, what.split("+"))
    s = summary(res)
    print(json.dumps({"what": what, "tag": tag, "cfg": cfg, "summary": s, "per": {k: {kk: round(vv, 3) for kk, vv in v.items() if kk in ("rel", "abs", "w0.8")} for k, v in res.items()},
                      "cpu_s": round(time.process_time() - t), "diag2": summary(DIAG) if DIAG else None, "rand": summary(RAND) if RAND else None}), flush=True)
    with open("/tmp/emo13c/results.jsonl", "a") as f:
        f.write(json.dumps({"what": what, "tag": tag, "cfg": cfg, "summary": s, "res": res, "diag2": DIAG, "rand": RAND}) + "\n")
