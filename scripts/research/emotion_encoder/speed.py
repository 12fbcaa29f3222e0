import numpy as np, torch, time
from wenc import build, mel, hidden
torch.set_num_threads(1)
enc = build()
x = np.random.default_rng(0).standard_normal(16000 * 4).astype(np.float32) * 0.1
m = mel(x)
t = time.process_time(); [mel(x) for _ in range(10)]; print("mel per 4s", (time.process_time() - t) / 10)
q = torch.ao.quantization.quantize_dynamic(enc, {torch.nn.Linear}, dtype=torch.qint8)
for name, e in (("fp32", enc), ("int8", q)):
    for L in (1, 2, 3, 4, 6):
        hidden(e, m, L)
        t = time.process_time()
        for _ in range(10): hidden(e, m, L)
        dt = (time.process_time() - t) / 10
        print(name, "layers", L, f"{dt*1000:.1f} ms per 4 s window -> {4/dt:.0f}x real time")
