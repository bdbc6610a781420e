#!/usr/bin/env python3
"""Time one yescrypt password hash per cost factor, as pam_unix computes it at every login.

    python3 scripts/bench_yescrypt.py [--costs 5,8,11] [--runs 3]

The cost is pam_unix's ``rounds`` (os_hardening_password_hash_cost, ANSSI's
var_password_pam_unix_rounds). Each hash runs in a child process of its own through the
system's libxcrypt (crypt_gensalt and crypt, as libpam does), so that the peak memory of one
hash can be read. Prints a Markdown table: median seconds and peak memory (MiB) per cost.
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import resource
import statistics
import subprocess
import sys
import time

CHILD = r"""
import ctypes, ctypes.util, sys, time
lib = ctypes.CDLL(ctypes.util.find_library("crypt") or "libcrypt.so.1")
lib.crypt_gensalt.restype = ctypes.c_char_p
lib.crypt_gensalt.argtypes = [ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p, ctypes.c_int]
lib.crypt.restype = ctypes.c_char_p
lib.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
setting = lib.crypt_gensalt(b"$y$", int(sys.argv[1]), None, 0)
start = time.perf_counter()
hashed = lib.crypt(b"correct horse battery staple", setting)
elapsed = time.perf_counter() - start
assert hashed and hashed.startswith(b"$y$"), hashed
print(f"{elapsed:.4f}")
"""


def one_hash(cost: int) -> tuple[float, float]:
    """Seconds for one hash and the child's peak resident memory in MiB."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(cost)], capture_output=True, text=True, check=True
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # ru_maxrss of children is the largest of any child so far (KiB on Linux): a child that
    # used less than an earlier one shows as the earlier figure, so costs run in ascending order.
    return float(done.stdout), max(before, after) / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--costs", default="5,8,11", help="comma-separated cost factors")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if not ctypes.util.find_library("crypt"):
        print("libcrypt (libxcrypt) not found", file=sys.stderr)
        return 2
    print("| yescrypt cost | runs | median s per hash | peak memory MiB |")
    print("|---|---|---|---|")
    for cost in sorted(int(c) for c in args.costs.split(",")):
        results = [one_hash(cost) for _ in range(args.runs)]
        seconds = statistics.median(r[0] for r in results)
        memory = max(r[1] for r in results)
        print(f"| {cost} | {args.runs} | {seconds:.3f} | {memory:.0f} |")
    return 0


if __name__ == "__main__":
    start = time.perf_counter()
    code = main()
    print(f"\n({time.perf_counter() - start:.0f} s in all)")
    sys.exit(code)
