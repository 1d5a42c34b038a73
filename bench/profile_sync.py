"""Where the memory and time of a metadata-only `kgenrich sync` go, stage by stage.

    OMP_NUM_THREADS=1 .venv/bin/python bench/profile_sync.py [--scale 1] [--shared ../shared/data/silknow]
        [--work DIR] [--top 6] [--no-tracemalloc]

Builds SILKNOW train replicated ``--scale`` times (bench_growth.replicate) into a fresh
embedded store, then runs the first sync in this process, with the same stages the sync
report has.  Per stage it prints: seconds, the process's resident-memory high-water mark
when the stage ended (ru_maxrss), the Python-heap peak inside the stage and what was still
held at its end (tracemalloc), and the allocation sites holding the most at the end of the
stage with the highest Python-heap peak.  tracemalloc slows pure-Python code down (about
2x here): the seconds of a run without it are the sync report's ``stages``
(``--no-tracemalloc``, or bench_growth.py).  Native memory (pyoxigraph/RocksDB, torch,
LightGBM) shows in the RSS column only.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
import tracemalloc
from contextlib import contextmanager
from pathlib import Path

from bench_growth import TRAIN, VOCABULARIES, replicate  # bench/ is on sys.path when run as a script

ROOT = Path(__file__).resolve().parent.parent


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=int, default=1)
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data" / "silknow")
    ap.add_argument("--work", type=Path, help="work here (default: a temporary directory)")
    ap.add_argument("--top", type=int, default=6)
    ap.add_argument("--no-tracemalloc", action="store_true")
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")

    from kgenrich import sync as sync_module
    from kgenrich.config import load_settings
    from kgenrich.store.embedded import EmbeddedStore

    work = args.work or Path(tempfile.mkdtemp(prefix="kgenrich-profile-"))
    work.mkdir(parents=True, exist_ok=True)
    data = replicate(args.shared / TRAIN, args.scale, work / f"train-x{args.scale}.trig.gz")
    store = EmbeddedStore(work / f"store-x{args.scale}-{time.time_ns()}")
    for f in [*(args.shared / v for v in VOCABULARIES), data]:
        store.load_file(f)
    settings = load_settings(environ={"KGENRICH_MODELS_DIR": str(work / f"models-{time.time_ns()}")}, cwd=work)

    rows: dict[str, dict] = {}
    snapshots = {}
    real = sync_module.Stages.__call__

    @contextmanager
    def profiled(self, name):
        if not args.no_tracemalloc:
            tracemalloc.reset_peak()
        with real(self, name):
            yield
        row = rows.setdefault(name, {"heap_peak": 0.0, "heap_end": 0.0})
        if not args.no_tracemalloc:
            current, peak = tracemalloc.get_traced_memory()
            if peak / 2**20 > row["heap_peak"]:
                row["heap_peak"] = peak / 2**20
                snapshots[name] = tracemalloc.take_snapshot()
            row["heap_end"] = current / 2**20

    sync_module.Stages.__call__ = profiled
    if not args.no_tracemalloc:
        tracemalloc.start(8)
    started = time.perf_counter()
    report = sync_module.run_sync(store, settings, progress=False)
    total = time.perf_counter() - started
    store.close()

    print(f"first sync of SILKNOW train x{args.scale} ({report.artifacts:,} artifacts, {report.predictions:,} "
          f"predictions, {report.triples:,} triples, write: {report.write}), {total:.1f} s in all"
          + ("" if args.no_tracemalloc else " under tracemalloc"))
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB; load average "
          + " ".join(f"{x:.1f}" for x in os.getloadavg()))
    print()
    print("| stage | seconds | RSS high-water at its end, MB | Python heap peak in it, MB | Python heap at its end, MB |")
    print("|---|---:|---:|---:|---:|")
    for name, seconds in report.stages.items():
        row = rows.get(name, {})
        print(f"| {name} | {seconds:.1f} | {report.peak_mb.get(name, 0):.0f} | {row.get('heap_peak', 0):.0f} | "
              f"{row.get('heap_end', 0):.0f} |")
    if snapshots:
        worst = max(snapshots, key=lambda n: rows[n]["heap_peak"])
        print(f"\nPython allocations held at the end of '{worst}' (the stage with the highest heap peak):")
        for stat in snapshots[worst].statistics("traceback")[: args.top]:
            frames = [f for f in stat.traceback if "kgenrich" in f.filename] or list(stat.traceback)
            where = " <- ".join(f"{Path(f.filename).name}:{f.lineno}" for f in frames[:3])
            print(f"  {stat.size / 2**20:7.1f} MB in {stat.count:,} blocks  {where}")


if __name__ == "__main__":
    main()
