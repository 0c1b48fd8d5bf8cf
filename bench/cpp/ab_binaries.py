"""Same-minute A/B of two builds of a C++ microbenchmark: runs OLD_DIR/BENCH and NEW_DIR/BENCH
alternately, R rounds per argument set, and prints medians and mins of the reported µs.

    python bench/cpp/ab_binaries.py OLD_DIR NEW_DIR BENCH R "args 1" ["args 2" ...]

e.g. build the base commit into /tmp/mkb_old and the working tree into /tmp/mkb, then
    python bench/cpp/ab_binaries.py /tmp/mkb_old /tmp/mkb mk_bench_dwconv 9 "144 56 3 1" "576 7 5 1"
A directory may carry environment settings after colons, to A/B one build's switches:
    python bench/cpp/ab_binaries.py build:MK_X=0 build:MK_X=1 mk_bench_pwconv 9 "49 960 160"
"""
import os
import re
import statistics
import subprocess
import sys


def _split(spec):
    d, *env = spec.split(":")
    return d, dict(os.environ, **dict(e.split("=", 1) for e in env))


def main(old_dir, new_dir, bench, rounds, *arg_sets):
    for args in arg_sets:
        t = {"old": [], "new": []}
        for _ in range(int(rounds)):
            for name, spec in (("old", old_dir), ("new", new_dir)):
                d, env = _split(spec)
                out = subprocess.run([f"{d}/{bench}", *args.split()], capture_output=True, text=True,
                                     check=True, env=env).stdout
                t[name].append(float(re.search(r"([0-9.]+) us", out).group(1)))
        o, n = statistics.median(t["old"]), statistics.median(t["new"])
        mo, mn = min(t["old"]), min(t["new"])
        print(f"{bench} {args:28s} median old {o:8.1f} new {n:8.1f} ({o / n:4.2f}x)   "
              f"min old {mo:8.1f} new {mn:8.1f} ({mo / mn:4.2f}x)", flush=True)


if __name__ == "__main__":
    if len(sys.argv) < 6:
        sys.exit(__doc__)
    main(*sys.argv[1:])
