#!/usr/bin/env python3
"""Times several commands in one run, alternating them (A B C, B C A, C A B, ...) so that load
from other processes on the machine, and each command's after-effects, fall on all of them
alike; reports for each the median wall time and the largest peak RSS (ru_maxrss of the
process, from wait4).

usage: measure.py [--runs N] [--warmup W] [--setup CMD] LABEL=COMMAND ...
`--setup` runs (untimed, under bash) before every timed command: it resets the datastore for
commands that change it. Prints one line per command: `LABEL MEDIAN_MS MIN_MS MAX_MS PEAK_RSS_KB` (stdout goes to
/dev/null; a failing command stops the measurement).
"""
import os
import shlex
import statistics
import subprocess
import sys
import time


def run_once(argv):
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, ru = os.wait4(p.pid, 0)
    ms = (time.perf_counter() - t0) * 1000
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        sys.exit(f"measure: {shlex.join(argv)} exited {p.returncode}")
    return ms, ru.ru_maxrss


def main():
    args = sys.argv[1:]
    runs, warmup, setup = 10, 1, None
    while args and args[0].startswith("--"):
        opt, val = args[0], args[1]
        args = args[2:]
        if opt == "--runs":
            runs = int(val)
        elif opt == "--warmup":
            warmup = int(val)
        elif opt == "--setup":
            setup = val
        else:
            sys.exit(f"measure: unknown option {opt}")
    cmds = []
    for a in args:
        label, _, cmd = a.partition("=")
        # A command with shell syntax runs under bash (its RSS is still the largest child's).
        argv = ["bash", "-c", cmd] if any(c in cmd for c in "|><;&$") else shlex.split(cmd)
        cmds.append((label, argv))
    times = {label: [] for label, _ in cmds}
    rss = {label: 0 for label, _ in cmds}
    for i in range(warmup + runs):
        # Each round starts one command later (A B C, B C A, C A B, ...): a command does not
        # always follow the same one, whose after-effects (the API server collecting the
        # garbage of a large list, say) would otherwise always fall on it.
        k = i % len(cmds)
        for label, argv in cmds[k:] + cmds[:k]:
            if setup:
                subprocess.run(["bash", "-c", setup], check=True, stdout=subprocess.DEVNULL)
            ms, kb = run_once(argv)
            if i >= warmup:
                times[label].append(ms)
                rss[label] = max(rss[label], kb)
    for label, _ in cmds:
        t = times[label]
        print(f"{label} {statistics.median(t):.1f} {min(t):.1f} {max(t):.1f} {rss[label]}")


if __name__ == "__main__":
    main()
