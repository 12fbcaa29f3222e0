import struct, numpy as np
DT = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}
def read_ct2(path, prefix=None):
    out = {}
    with open(path, "rb") as f:
        def u(fmt):
            n = struct.calcsize(fmt); return struct.unpack(fmt, f.read(n))[0]
        def s():
            n = u("H"); b = f.read(n); return b[:-1].decode()
        version = u("I"); name = s(); rev = u("I"); nvar = u("I")
        for _ in range(nvar):
            vname = s(); nd = u("B"); shape = [u("I") for _ in range(nd)]; dt = u("B"); nb = u("I")
            if prefix is None or vname.startswith(prefix):
                out[vname] = np.frombuffer(f.read(nb), dtype=DT[dt]).reshape(shape)
            else:
                f.seek(nb, 1)
        nal = u("I"); aliases = {s(): s() for _ in range(nal)}
    return version, name, rev, out, aliases
if __name__ == "__main__":
    v, n, r, w, a = read_ct2("ct2/model.bin")
    print(v, n, r, len(w), a)
    for k, x in w.items():
        if k.startswith("encoder") and ("layer_0/" in k or "layer_" not in k): print(k, x.shape, x.dtype)
    print(sorted({k.split("/")[1] for k in w if k.startswith("encoder")}))
