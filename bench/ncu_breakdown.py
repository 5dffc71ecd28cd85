#!/usr/bin/env python3
"""Sums an Nsight Compute CSV (--csv --print-units base, metric gpu__time_duration.sum
and optionally dram__bytes_read.sum / dram__bytes_write.sum) per kernel name, so a
multi-pass forward or a backward shows where its time goes.

    ncu --metrics gpu__time_duration.sum,dram__bytes_read.sum,dram__bytes_write.sum \
        --csv --print-units base ffc_bench ... | python3 bench/ncu_breakdown.py
"""
import csv
import os
import re
import sys
from collections import OrderedDict


def short(name):
    # Drop argument lists and namespaces; keep template arguments (they name the variant).
    name = re.sub(r"\(.*\)$", "", name)
    name = re.sub(r"\b(ffc::cuda::|void |generated::|fused::|mp::)", "", name)
    return name[:110]


def main():
    lines = [l for l in sys.stdin if l.startswith('"')]
    rows = list(csv.DictReader(lines))
    agg = OrderedDict()
    for r in rows:
        k = short(r.get("Kernel Name", "?"))
        a = agg.setdefault(k, {"count": set(), "ns": 0.0, "rd": 0.0, "wr": 0.0})
        a["count"].add(r.get("ID"))
        v = float(r["Metric Value"].replace(",", "")) if r.get("Metric Value") else 0.0
        m = r.get("Metric Name")
        if m == "gpu__time_duration.sum":
            a["ns"] += v
        elif m == "dram__bytes_read.sum":
            a["rd"] += v
        elif m == "dram__bytes_write.sum":
            a["wr"] += v
    total = sum(a["ns"] for a in agg.values()) or 1.0
    print("%-110s %6s %10s %6s %9s %9s" % ("kernel", "calls", "ms", "%", "GB rd", "GB wr"))
    for k, a in sorted(agg.items(), key=lambda kv: -kv[1]["ns"]):
        print("%-110s %6d %10.3f %5.1f%% %9.3f %9.3f" % (k, len(a["count"]), a["ns"] / 1e6, 100 * a["ns"] / total,
                                                       a["rd"] / 1e9, a["wr"] / 1e9))


if __name__ == "__main__":
    try:
        main()
    except BrokenPipeError:  # the reader (device_run.sh's head) took what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
