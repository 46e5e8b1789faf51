#!/usr/bin/env python3
"""Prints the lines of tests/conformance/open-divergences.txt for the cases that differ in the
conformance reports of the last run (target/conformance-etcd.txt, -kdd.txt, fuzz-etcd.txt).

Usage: tools/open_divergences.py [REPORT...]   (run from the repository root)
"""
import re
import sys

reports = sys.argv[1:] or [
    "target/conformance-etcd.txt",
    "target/conformance-kdd.txt",
    "target/fuzz-etcd.txt",
]
# `FILE:LINE [CASE NAME] step at line N: ...` opens each difference of a report.
head = re.compile(r"^(?:✗ )?([^\s:]+):\d+ \[(.*)\] step at line \d+")
for path in reports:
    store = "kdd" if "kdd" in path else "etcd"
    try:
        text = open(path, encoding="utf-8").read()
    except FileNotFoundError:
        continue
    # Only the differences, not the already-listed open ones.
    text = text.split("── open divergences (known, listed) ──")[0]
    seen = []
    for line in text.splitlines():
        m = head.match(line)
        if m:
            key = f"{store} {m.group(1)} [{m.group(2)}]"
            if key not in seen:
                seen.append(key)
    for k in seen:
        print(k)
