"""How OpenMP's waiting policy costs LightGBM, quiet and beside busy processes (issue 21, item 8).

    python bench/bench_openmp_wait.py [--busy 2] [--runs 2]

Fits the same small multiclass LightGBM model (60 rounds, 10 classes, 60,000 rows of 30 features,
5 of them categorical; made here, seeded) in a fresh process per setting: two threads that sleep at
once when they wait (OMP_WAIT_POLICY=PASSIVE), one thread, two threads that spin 1,000 times and
then sleep (GOMP_SPINCOUNT=1000, kgenrich's choice, threads.py) and two with OpenMP's default; first
on the machine as it is, then beside ``--busy`` processes that spin on a core each (started and
stopped here).  Prints the seconds of each run and the load average.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

FIT = """
import time
import numpy as np
import lightgbm as lgb
rng = np.random.default_rng(0)
n, d, k = 60000, 30, 10
X = rng.normal(size=(n, d)); X[:, :5] = rng.integers(0, 50, size=(n, 5))
y = (X[:, 5] * 3 + X[:, 0] % 7 + rng.normal(size=n)).astype(int) % k
ds = lgb.Dataset(X, y, categorical_feature=[0, 1, 2, 3, 4], free_raw_data=False)
t = time.perf_counter()
lgb.train({"objective": "multiclass", "num_class": k, "num_threads": THREADS, "verbose": -1,
           "force_row_wise": True, "deterministic": True, "num_leaves": 15}, ds, num_boost_round=60)
print(round(time.perf_counter() - t, 2))
"""

SETTINGS = [
    ("2 threads, passive (sleep at once)", 2, {"OMP_WAIT_POLICY": "PASSIVE"}),
    ("1 thread", 1, {"OMP_WAIT_POLICY": "PASSIVE"}),
    ("2 threads, spin 1,000 then sleep (kgenrich)", 2, {"GOMP_SPINCOUNT": "1000"}),
    ("2 threads, OpenMP's default", 2, {}),
]


def run(threads: int, extra: dict) -> float:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME")}
    env.update(extra, OMP_NUM_THREADS=str(threads))
    out = subprocess.run([sys.executable, "-c", FIT.replace("THREADS", str(threads))], env=env,
                         capture_output=True, text=True, timeout=600, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--busy", type=int, default=2)
    ap.add_argument("--runs", type=int, default=2)
    args = ap.parse_args()
    for situation in ("as it is", f"beside {args.busy} busy processes"):
        busy = []
        if situation != "as it is":
            busy = [subprocess.Popen([sys.executable, "-c", "import time\nend = time.time() + 900\nwhile time.time() < end: pass"])
                    for _ in range(args.busy)]
            time.sleep(1)
        try:
            print(f"\n{situation} (load average {os.getloadavg()[0]:.2f})")
            for name, threads, extra in SETTINGS:
                seconds = [run(threads, extra) for _ in range(args.runs)]
                print(f"  {name:46s} " + ", ".join(f"{s:.1f} s" for s in seconds))
        finally:
            for p in busy:
                p.kill()
                p.wait()


if __name__ == "__main__":
    main()
