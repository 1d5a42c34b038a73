"""Fair on a shared machine: `kgenrich demo` and a metadata-only sync, quiet and beside busy processes.

    .venv/bin/python bench/bench_shared_machine.py [--busy 2] [--what demo sync] [--policy kgenrich spin]
                                                   [--size 3000] [--limit 900]

For each workload (``demo``: ``kgenrich demo`` at ``--size``; ``sync``: the first ``kgenrich sync`` of
the SILKNOW train graph with the vocabularies, no texts and no images, so the tabular model and the
fusion) and each thread policy, the command runs twice in a fresh directory: once alone ("quiet"),
once beside ``--busy`` processes this script starts itself (each a Python loop on one core, stopped
when the run ends and in any case after ``--limit`` seconds).  It prints the wall time of each run,
the ratio busy / quiet (target: at most 2.5 beside two busy processes on 2 cores), the per-task
out-of-fold macro-F1 of fusion from the model card (no loss in quality: the same within noise), the
threads kgenrich chose, and the one-minute load average before each run (other jobs on the machine
make a "quiet" run less quiet: compare runs taken together only).

Policies: ``kgenrich`` is what kgenrich chooses (threads.py: OpenMP threads spin briefly, then sleep, when they wait; one
thread per free core); ``spin`` is the libraries' own defaults as kgenrich ran before (a thread per
core, ``OMP_WAIT_POLICY=ACTIVE``), for comparison.  Results also go to bench/out/shared-machine.json.
Needs the SILKNOW data beside the checkout for ``sync`` (../shared/data/silknow); the demo needs nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
SILKNOW = ROOT.parent / "shared" / "data" / "silknow"
VOCABULARIES = ["vocabularies/silknow-thesaurus.ttl", "vocabularies/aat-centuries.ttl",
                "vocabularies/silknow-dates-extension.ttl", "vocabularies/geonames-subset.ttl"]
BUSY_LOOP = "import time, sys\nend = time.time() + float(sys.argv[1])\nwhile time.time() < end:\n    pass\n"


def load_avg() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def environment(policy: str) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("KGENRICH_") and k not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "KMP_BLOCKTIME", "GOMP_SPINCOUNT",
                                                           "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", KGENRICH_OFFLINE="1",
               PYTHONPATH=os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]))
    if policy == "spin":
        cores = len(os.sched_getaffinity(0))
        env.update(OMP_WAIT_POLICY="ACTIVE", KMP_BLOCKTIME="200", KGENRICH_THREADS=str(cores),
                   OMP_NUM_THREADS=str(cores))
    return env


def start_busy(n: int, limit: float) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-c", BUSY_LOOP, str(limit)]) for _ in range(n)]


def stop(processes: list[subprocess.Popen]) -> None:
    for p in processes:
        if p.poll() is None:
            p.terminate()
    for p in processes:
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


class TooLong(Exception):
    """A run that passed --limit seconds (it was stopped)."""


def kgenrich(args: list[str], cwd: Path, env: dict, limit: float) -> tuple[float, subprocess.CompletedProcess]:
    started = time.perf_counter()
    try:
        result = subprocess.run([sys.executable, "-m", "kgenrich", *args], cwd=cwd, env=env, capture_output=True,
                                text=True, timeout=limit)
    except subprocess.TimeoutExpired:
        raise TooLong() from None
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"kgenrich {' '.join(args)} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return seconds, result


def fusion_scores(models: Path) -> dict:
    card = json.loads((models / "ensemble.json").read_text())
    return {task: round(s["macro_f1"], 3) for task, s in card["scores"].get("fusion", {}).items()}


def prepare_sync_store(work: Path, env: dict, limit: float) -> None:
    files = [str(SILKNOW / name) for name in VOCABULARIES] + [str(SILKNOW / "kg" / "silknow-train.trig.gz")]
    kgenrich(["--store", "store", "load", *files], work, env, limit)


def run_once(what: str, policy: str, busy: int, size: int, limit: float, template: Path | None) -> dict:
    env = environment(policy)
    with tempfile.TemporaryDirectory(prefix=f"kgenrich-shared-{what}-") as tmp:
        work = Path(tmp)
        if what == "sync":
            shutil.copytree(template, work / "store")
            args = ["--store", "store", "--models-dir", "models", "sync", "--json", "--quiet"]
        else:
            args = ["--store", "demo/store", "--models-dir", "demo/models", "demo", "--size", str(size), "--json"]
        before = load_avg()
        processes = start_busy(busy, limit)
        try:
            seconds, result = kgenrich(args, work, env, limit)
        except TooLong:
            return {"what": what, "policy": policy, "busy": busy, "seconds": None, "load_before": before,
                    "fusion_macro_f1": {}, "cpu_threads": None}
        finally:
            stop(processes)
        models = work / ("models" if what == "sync" else "demo/models")
        scores = fusion_scores(models)
        card = json.loads((models / "ensemble.json").read_text())
    return {"what": what, "policy": policy, "busy": busy, "seconds": round(seconds, 1), "load_before": before,
            "fusion_macro_f1": scores, "cpu_threads": card.get("cpu_threads")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--busy", type=int, default=2, help="busy processes beside the second run (default 2)")
    parser.add_argument("--what", nargs="+", choices=["demo", "sync"], default=["demo", "sync"])
    parser.add_argument("--policy", nargs="+", choices=["kgenrich", "spin"], default=["kgenrich"])
    parser.add_argument("--size", type=int, default=3000, help="demo artifacts (default 3000)")
    parser.add_argument("--limit", type=float, default=900, help="seconds at most per run (default 900)")
    args = parser.parse_args()

    print(f"{os.cpu_count()} CPUs, {len(os.sched_getaffinity(0))} usable; load average {load_avg()}")
    results = []
    with tempfile.TemporaryDirectory(prefix="kgenrich-shared-template-") as tmp:
        template = None
        if "sync" in args.what:
            if not (SILKNOW / "kg" / "silknow-train.trig.gz").is_file():
                raise SystemExit(f"the sync workload needs the SILKNOW data at {SILKNOW}")
            prepare_sync_store(Path(tmp), environment("kgenrich"), args.limit)
            template = Path(tmp) / "store"
        for what in args.what:
            for policy in args.policy:
                pair = {}
                for busy in (0, args.busy):
                    r = run_once(what, policy, busy, args.size, args.limit, template)
                    results.append(r)
                    pair[busy] = r
                    took = f"{r['seconds']:7.1f} s" if r["seconds"] is not None else f"> {args.limit:g} s (stopped)"
                    print(f"{what:5} policy {policy:8} beside {busy} busy: {took}  "
                          f"(load before {r['load_before']}; threads {r['cpu_threads']})  "
                          f"fusion macro-F1 {r['fusion_macro_f1']}", flush=True)
                if pair[0]["seconds"] and pair[args.busy]["seconds"]:
                    ratio = pair[args.busy]["seconds"] / pair[0]["seconds"]
                    print(f"{what:5} policy {policy:8} busy/quiet = {ratio:.2f}x (target <= 2.5x beside 2 busy)",
                          flush=True)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "shared-machine.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
