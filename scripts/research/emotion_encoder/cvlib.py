import pickle, numpy as np
import sys, analyzer.emotion.train.corpora as _c; sys.modules["analyzer.emotion.corpora"] = _c
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from sklearn.metrics import recall_score
LABELS = ("neutral", "happy", "angry", "sad")

def load(corpus):
    r = pickle.load(open(f"/work/emo-lab/feat_{corpus}.pkl", "rb"))
    y = np.array([LABELS.index(c.label) for c in r["clips"]]); spk = np.array([c.speaker for c in r["clips"]])
    out = {"y": y, "spk": spk, "corpus": corpus,
           "clean": np.stack(r["clean"]).astype(np.float32), "phone": np.stack(r["phone"]).astype(np.float32),
           "fun_clean": np.stack(r["fun_clean"]), "fun_phone": np.stack(r["fun_phone"])}
    if r["aug"] and r["aug"][0]:
        out["aug"] = np.stack([np.stack(a) for a in r["aug"]]).astype(np.float32)  # (n, k, 7, 1024)
    return out

def spk_z(X, spk):
    X = np.array(X, dtype=np.float64, copy=True)
    for s in np.unique(spk):
        m = spk == s
        X[m] = (X[m] - X[m].mean(0)) / (X[m].std(0) + 1e-6) if m.sum() > 1 else 0.0
    return X

def feats(d, cond, layers, idx=None, fun=False, k=None):
    """cond clean/phone/aug(k). layers: tuple of layer indices concatenated."""
    idx = np.arange(len(d["y"])) if idx is None else idx
    if cond == "aug":
        A = d["aug"][idx, k][:, list(layers)].reshape(len(idx), -1)
    else:
        A = d[cond][idx][:, list(layers)].reshape(len(idx), -1)
    Z = spk_z(A, d["spk"][idx])
    if fun:
        F = d["fun_clean" if cond != "phone" else "fun_phone"][idx]
        Z = np.hstack([Z, spk_z(F, d["spk"][idx])])
    return Z

def train_set(ds, idxs, layers, fun=False, use_aug=True):
    X, y = [], []
    for d, idx in zip(ds, idxs):
        conds = [("clean", None), ("phone", None)] + ([("aug", k) for k in range(d["aug"].shape[1])] if use_aug and "aug" in d else [])
        for c, k in conds:
            X.append(feats(d, c, layers, idx, fun, k)); y.append(d["y"][idx])
    return np.vstack(X), np.concatenate(y)

def fit(X, y, C=0.1):
    sc = StandardScaler().fit(X)
    lr = LogisticRegression(C=C, class_weight="balanced", max_iter=2000).fit(sc.transform(X), y)
    return sc, lr

def proba(model, X):
    sc, lr = model
    P = np.zeros((len(X), 4)); P[:, lr.classes_] = lr.predict_proba(sc.transform(X)); return P

def uar(y, P):
    present = np.unique(y)
    return recall_score(y, P.argmax(1), labels=present, average="macro")

def folds_by_speaker(d, n=5, seed=0):
    spks = np.unique(d["spk"]); rng = np.random.default_rng(seed); spks = spks[rng.permutation(len(spks))]
    return [np.isin(d["spk"], spks[f::n]) for f in range(n)]

def fuse(p1, p2, w):
    lp = w * np.log(np.clip(p1, 1e-12, 1)) + (1 - w) * np.log(np.clip(p2, 1e-12, 1))
    lp -= lp.max(1, keepdims=True); p = np.exp(lp); return p / p.sum(1, keepdims=True)

def feats_abs(d, cond, layers, idx, k=None):
    if cond == "aug":
        return d["aug"][idx, k][:, list(layers)].reshape(len(idx), -1).astype(np.float64)
    return d[cond][idx][:, list(layers)].reshape(len(idx), -1).astype(np.float64)

def train_abs(ds, idxs, layers):
    X, y = [], []
    for d, idx in zip(ds, idxs):
        conds = [("clean", None), ("phone", None)] + ([("aug", k) for k in range(d["aug"].shape[1])] if "aug" in d else [])
        for c, k in conds:
            X.append(feats_abs(d, c, layers, idx, k)); y.append(d["y"][idx])
    return np.vstack(X), np.concatenate(y)

def oof_multi(ds, folds, layers, C, kind="rel", fun=False):
    """Out-of-fold probabilities per condition; folds[j][f] boolean masks (test) of dataset j."""
    nf = len(folds[0])
    oof = {c: [np.zeros((len(d["y"]), 4)) for d in ds] for c in ("clean", "phone")}
    for f in range(nf):
        tr = [np.where(~fo[f])[0] for fo in folds]; te = [np.where(fo[f])[0] for fo in folds]
        keep = [j for j in range(len(ds)) if len(tr[j])]
        if kind == "rel":
            m = fit(*train_set([ds[j] for j in keep], [tr[j] for j in keep], layers, fun), C=C)
        else:
            m = fit(*train_abs([ds[j] for j in keep], [tr[j] for j in keep], layers), C=C)
        for c in ("clean", "phone"):
            for j, d in enumerate(ds):
                if len(te[j]):
                    X = feats(d, c, layers, te[j], fun) if kind == "rel" else feats_abs(d, c, layers, te[j])
                    oof[c][j][te[j]] = proba(m, X)
    return oof

def pooled_uar(ds, oof, which=None):
    which = range(len(ds)) if which is None else which
    y = np.concatenate([ds[j]["y"] for j in which])
    return {c: uar(y, np.vstack([oof[c][j] for j in which])) for c in oof}
