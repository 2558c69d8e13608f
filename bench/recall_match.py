#!/usr/bin/python3
"""recall_match.py CSV... - recall@k of each backend at the same nprobe and number of re-ranked
candidates (SCANN reorder_k = faiss k_factor * 10), from `scann bench` CSVs. Recall does not
depend on machine load, so this compares quantizers when QPS is too noisy to."""
import csv
import sys

for path in sys.argv[1:]:
    rows=list(csv.DictReader(open(path)))
    d={}
    for r in rows:
        p=dict(kv.split('=',1) for kv in r['params'].split(',') if '=' in kv)
        lab=r['index'].split(' [')[0]
        if 'k_factor' in p: cand=int(p['k_factor'])*10
        elif 'reorder_k' in p: cand=int(p['reorder_k'])
        else: continue
        if 'nprobe' not in p: continue
        d[(lab,int(p['nprobe']),cand)]=float(r['recall'])
    labs=sorted(set(k[0] for k in d))
    print(path)
    for np_,c in sorted(set(k[1:] for k in d)):
            vals=[(l,d.get((l,np_,c))) for l in labs]
            if sum(v is not None for _,v in vals)>1:
                print(f"  nprobe={np_} cand={c}: "+"  ".join(f"{l}={v:.3f}" for l,v in vals if v is not None))
