#!/bin/bash
# usage: queue.sh FILE  (lines: what<TAB>cfgjson<TAB>tag)
while IFS=$'\t' read -r what cfg tag; do
  [ -z "$what" ] && continue
  OMP_NUM_THREADS=1 python3 /tmp/emo13c/harness.py "$what" "$cfg" "$tag" 2>&1 | python3 -c "
import sys,json
for l in sys.stdin:
    try: d=json.loads(l)
    except Exception: print(l.rstrip()); continue
    s=d['summary']; best=max((v,k) for k,v in s.items() if k.startswith('w'))
    print(d['what'],d['tag'],'rel',s['rel'],'abs',s['abs'],'w0.8',s['w0.8'],'best',best,'cpu',d['cpu_s'],'per',d['per'],'diag2',(d.get('diag2') or {}).get('rel'),(d.get('diag2') or {}).get('abs'),(d.get('diag2') or {}).get('w0.8'),'rand',(d.get('rand') or {}).get('w0.8'),flush=True)
"
done < "$1"
