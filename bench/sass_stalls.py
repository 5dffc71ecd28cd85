#!/usr/bin/env python3
"""Groups the per-instruction stall samples of `device_run.sh source` by loop.

    python3 bench/sass_stalls.py source_sass_32768.csv

Each loop is the address range of a backward branch (the innermost one owns
an instruction); everything else is "straight". Prints, per group, its share of
all warp samples and of executed instructions, its top stall reasons (% of the
group's samples) and its most executed opcodes: where a kernel's time goes,
stage by stage.
"""
import collections
import csv
import re
import sys

REASONS = ["barrier", "long_sb", "wait", "short_sb", "math", "mio", "lg", "not_selected", "selected",
           "dispatch", "branch_resolving", "no_inst", "membar", "misc"]


def main(path):
    rows = list(csv.reader(open(path)))
    header = rows[1]
    col = {name: header.index(name) for name in ("Address", "Source", "Warp Stall Sampling (All Samples)",
                                                  "Instructions Executed")}
    reason_col = {r: header.index("stall_" + r) for r in REASONS if "stall_" + r in header}
    ins = []
    for r in rows[2:]:
        num = lambda key: float(r[col[key]] or 0)
        ins.append((int(r[col["Address"]], 16), r[col["Source"]], num("Warp Stall Sampling (All Samples)"),
                    num("Instructions Executed"), {k: float(r[v] or 0) for k, v in reason_col.items()}))
    index = {a: i for i, (a, *_) in enumerate(ins)}
    loops = []
    for i, (a, src, *_) in enumerate(ins):
        m = re.search(r"\bBRA\b.*0x([0-9a-f]+)", src)
        if m and int(m.group(1), 16) <= a and int(m.group(1), 16) in index:
            loops.append((index[int(m.group(1), 16)], i))
    owner = [None] * len(ins)
    for s, e in sorted(loops, key=lambda x: x[1] - x[0], reverse=True):
        for k in range(s, e + 1):
            owner[k] = (s, e)
    groups = collections.defaultdict(lambda: [0.0, 0.0, collections.Counter(), collections.Counter()])
    for k, (_, src, samples, executed, reasons) in enumerate(ins):
        g = groups[owner[k]]
        g[0] += samples
        g[1] += executed
        g[2].update(reasons)
        op = src.split()[1] if src.startswith("@") else src.split()[0]
        g[3][op.split(".")[0]] += executed
    total_s = sum(g[0] for g in groups.values()) or 1
    total_i = sum(g[1] for g in groups.values()) or 1
    for key, (s, i, reasons, ops) in sorted(groups.items(), key=lambda kv: -kv[1][0]):
        if s < 0.005 * total_s:
            continue
        name = f"{ins[key[0]][0]:#x}-{ins[key[1]][0]:#x} ({key[1] - key[0] + 1} instr)" if key else "straight"
        top = " ".join(f"{r}={100 * v / s:.0f}%" for r, v in reasons.most_common(5)) if s else ""
        mix = " ".join(f"{o}:{v / 1e6:.0f}M" for o, v in ops.most_common(6))
        print(f"{name:40s} samples {100 * s / total_s:5.1f}%  instr {100 * i / total_i:5.1f}%  {top} | {mix}")


if __name__ == "__main__":
    main(sys.argv[1])
