import time, csv, soundfile as sf, numpy as np
from faster_whisper import WhisperModel
m = WhisperModel("/work/emo-lab/ct2", device="cpu", compute_type="float32", cpu_threads=2)
for path in ["/work/shared/corpora/emodb/03a01Wa.flac", "/work/shared/corpora/emodb/08b02Nb.flac"]:
    try:
        x, sr = sf.read(path, dtype="float32")
    except Exception as e:
        print(path, e); continue
    segs, info = m.transcribe(x, beam_size=1)
    print(path, info.language, round(info.language_probability,3), " ".join(s.text for s in segs))
rows = list(csv.DictReader(open("/work/shared/corpora/nemo/data.tsv"), delimiter="\t"))
print(rows[0].keys())
import os
for r in rows[:40:13]:
    p = "/work/shared/corpora/nemo/" + os.path.splitext(r["file_id"])[0] + ".flac"
    if not os.path.exists(p): continue
    x, sr = sf.read(p, dtype="float32")
    segs, info = m.transcribe(x, beam_size=1)
    print(info.language, round(info.language_probability,3), "|", " ".join(s.text for s in segs), "| REF:", r.get("raw_text") or r.get("normalized_text"))
