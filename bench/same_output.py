#!/usr/bin/env python3
"""Compares our output with the reference calicoctl's and says how they differ.

usage: same_output.py [--ipam-check] OURS_FILE REFERENCE_FILE

Prints one word on the first line: `identical` (byte for byte), `equivalent` (only lines the
reference prints in Go map order differ; `--ipam-check` only) or `DIFFERENT`; then, when not
identical, a unified diff of the raw outputs (at most 60 lines). Exit status 0 unless DIFFERENT.

`--ipam-check`: calicoctl lists the top 20 nodes by allocation count with `sort.Slice` over a
slice built from a Go map, so nodes with equal counts come out in an order that changes from run
to run, and when a group of equal counts straddles the 20th line, which of its nodes are listed
changes too. Those lines are compared as: every line's count in place; within a group of equal
counts the set of names, except for the group that reaches the 20th line, whose names are not
compared (they are any of the nodes with that count). Every other line is compared byte for byte.
"""
import difflib
import re
import sys

TOP = re.compile(r"^  (.*) has (\d+) allocations$")


def top_nodes_normalised(lines):
    """The lines with the top-node block rewritten as described above."""
    out, i = [], 0
    while i < len(lines):
        if not TOP.match(lines[i]):
            out.append(lines[i])
            i += 1
            continue
        block = []
        while i < len(lines) and TOP.match(lines[i]):
            name, count = TOP.match(lines[i]).groups()
            block.append((int(count), name))
            i += 1
        groups = []
        for count, name in block:
            if groups and groups[-1][0] == count:
                groups[-1][1].append(name)
            else:
                groups.append((count, [name]))
        for g, (count, names) in enumerate(groups):
            cut = len(block) == 20 and g == len(groups) - 1
            for name in (["<any node with this count>"] * len(names) if cut else sorted(names)):
                out.append(f"  {name} has {count} allocations")
    return out


def main():
    args = sys.argv[1:]
    ipam_check = args[:1] == ["--ipam-check"]
    if ipam_check:
        args = args[1:]
    ours, ref = (open(p, "rb").read() for p in args)
    if ours == ref:
        print("identical")
        return 0
    a = ours.decode("utf-8", "replace").splitlines()
    b = ref.decode("utf-8", "replace").splitlines()
    same = ipam_check and top_nodes_normalised(a) == top_nodes_normalised(b)
    print("equivalent" if same else "DIFFERENT")
    diff = list(difflib.unified_diff(b, a, "calicoctl", "ours", n=1, lineterm=""))
    for line in diff[:60]:
        print(line)
    if len(diff) > 60:
        print(f"... {len(diff) - 60} more diff lines")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
