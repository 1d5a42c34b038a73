"""Growth: load, first sync and a no-change re-sync of SILKNOW train replicated N times.

    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_growth.py [--scale 1 4 16] [--server] [--runs 1]
        [--shared ../shared/data/silknow] [--keep DIR] [--json FILE]

The SILKNOW train graph (13,246 artifacts in 11 museum graphs, metadata only:
no texts, no image files) is written N times: copy 0 as it is, copy k with every
artifact, production, time-span and image IRI made fresh (uuid5 of the original
UUID and k), so the same museums, labels and vocabulary links appear N times
over.  With the four vocabularies it is loaded into a fresh store and
``kgenrich sync`` runs twice with the shipped task set and the default model
settings.  Each step is a process of its own; its wall time and peak resident
memory (``ru_maxrss`` of that process, from ``wait4``) are printed, with the
sync's own stage timings (``stages`` of ``sync --json``).

``--server`` runs the same steps against an Oxigraph server (union default
graph, Graph Store Protocol) started on 127.0.0.1; the server's memory is not
counted.  ``--runs R`` repeats every scale R times and prints min / median / max.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VOCABULARIES = [
    "vocabularies/silknow-thesaurus.ttl",
    "vocabularies/aat-centuries.ttl",
    "vocabularies/silknow-dates-extension.ttl",
    "vocabularies/geonames-subset.ttl",
]
TRAIN = "kg/silknow-train.trig.gz"
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_COPY_NS = uuid.UUID("6f0d3a52-8d0b-4a47-9a51-2f7f0b1d9c10")


def replicate(train: Path, copies: int, out: Path) -> Path:
    """TriG with ``copies`` copies of the train graph; copy k > 0 with fresh artifact IRIs."""
    text = gzip.decompress(train.read_bytes()).decode("utf-8")
    # Prefix lines once; the rest repeated (TriG allows the same graph block several times).
    head_end = 0
    for line in text.splitlines(keepends=True):
        if not line.startswith("@prefix"):
            break
        head_end += len(line)
    head, body = text[:head_end], text[head_end:]
    with gzip.open(out, "wt", encoding="utf-8", compresslevel=1) as fh:
        fh.write(head)
        fh.write(body)
        for k in range(1, copies):
            fresh = {}

            def renamed(match, k=k, fresh=fresh):
                old = match.group(0)
                if old not in fresh:
                    fresh[old] = str(uuid.uuid5(_COPY_NS, f"{old}/{k}"))
                return fresh[old]

            fh.write(_UUID.sub(renamed, body))
    return out


def run_measured(args: list[str], env: dict, cwd: Path) -> tuple[float, float, float, str]:
    """(wall seconds, CPU seconds, peak MB, stdout) of one kgenrich command, from the child's own rusage
    (wait4): CPU time says what the work cost even when other jobs share the machine."""
    t0 = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen([sys.executable, "-m", "kgenrich", *args], env=env, cwd=cwd, stdout=out,
                                stderr=err, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - t0
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode != 0:
        sys.exit(f"kgenrich {' '.join(args)} failed ({proc.returncode}):\n{stderr[-3000:]}")
    return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, stdout


def one_scale(scale: int, shared: Path, work: Path, server: bool) -> dict:
    work.mkdir(parents=True, exist_ok=True)
    data = replicate(shared / TRAIN, scale, work / f"train-x{scale}.trig.gz")
    env = {**os.environ, "KGENRICH_MODELS_DIR": str(work / "models"), "OMP_NUM_THREADS": "1",
           "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    oxigraph = None
    if server:
        from kgenrich.store.local_server import OxigraphServer

        oxigraph = OxigraphServer(work / "server", union_default_graph=True)
        env.update(KGENRICH_ENDPOINT=oxigraph.query, KGENRICH_UPDATE_ENDPOINT=oxigraph.update,
                   KGENRICH_GSP_ENDPOINT=oxigraph.gsp)
    else:
        env["KGENRICH_STORE"] = str(work / "store")
    steps = {}
    try:
        files = [str(shared / f) for f in VOCABULARIES] + [str(data)]
        seconds, cpu, peak, _ = run_measured(["load", *files], env, work)
        steps["load"] = {"seconds": seconds, "cpu_seconds": cpu, "peak_mb": peak}
        for name in ("first sync", "no-change re-sync"):
            seconds, cpu, peak, out = run_measured(["sync", "--json", "--quiet"], env, work)
            report = json.loads(out)
            steps[name] = {"seconds": seconds, "cpu_seconds": cpu, "peak_mb": peak, "stages": report.get("stages", {}),
                           "stage_peak_mb": report.get("peak_mb", {}), "write": report.get("write"),
                           "predictions": report.get("predictions"), "written": report.get("written"),
                           "artifacts": report.get("artifacts"), "wrote": report.get("wrote")}
    finally:
        if oxigraph is not None:
            oxigraph.stop()
    return steps


def _spread(values: list[float], fmt: str) -> str:
    if len(values) == 1:
        return format(values[0], fmt)
    return f"{format(statistics.median(values), fmt)} ({format(min(values), fmt)}-{format(max(values), fmt)})"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=int, nargs="+", default=[1, 4, 16])
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--server", action="store_true", help="an Oxigraph server instead of the embedded store")
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data" / "silknow")
    ap.add_argument("--keep", type=Path, help="work in this directory and keep it")
    ap.add_argument("--json", type=Path, help="also write every measurement here")
    args = ap.parse_args()
    if not (args.shared / TRAIN).is_file():
        sys.exit(f"SILKNOW data not found under {args.shared} (give --shared)")
    base = args.keep or Path(tempfile.mkdtemp(prefix="kgenrich-growth-"))
    results: dict[int, list[dict]] = {}
    for scale in args.scale:
        for r in range(args.runs):
            steps = one_scale(scale, args.shared, base / f"x{scale}-run{r}", args.server)
            results.setdefault(scale, []).append(steps)
            print(f"x{scale} run {r + 1}: " + "; ".join(f"{k} {v['seconds']:.1f} s ({v['cpu_seconds']:.1f} CPU) / "
                                                          f"{v['peak_mb']:.0f} MB"
                                                          for k, v in steps.items()), file=sys.stderr, flush=True)
            if not args.keep:
                import shutil

                shutil.rmtree(base / f"x{scale}-run{r}", ignore_errors=True)
    kind = "Oxigraph server" if args.server else "embedded store"
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"SILKNOW train replicated, metadata only, {kind}; {args.runs} run(s) per scale "
          f"(median (min-max)); CPU = user + system seconds of the kgenrich process; peak = its max RSS; "
          f"load average at the end {load}")
    print()
    print("| scale | artifacts | step | wall s | CPU s | peak MB |")
    print("|---|---:|---|---:|---:|---:|")
    for scale, runs in results.items():
        artifacts = runs[0]["first sync"]["artifacts"]
        for step in runs[0]:
            secs = [r[step]["seconds"] for r in runs]
            cpus = [r[step]["cpu_seconds"] for r in runs]
            peaks = [r[step]["peak_mb"] for r in runs]
            print(f"| x{scale} | {artifacts:,} | {step} | {_spread(secs, '.1f')} | {_spread(cpus, '.1f')} | "
                  f"{_spread(peaks, '.0f')} |")
    print()
    print("Stage seconds of the first sync (median over runs):")
    for scale, runs in results.items():
        names = list(runs[0]["first sync"]["stages"])
        stages = {n: statistics.median(r["first sync"]["stages"].get(n, 0.0) for r in runs) for n in names}
        print(f"  x{scale}: " + ", ".join(f"{n} {v:.1f}" for n, v in stages.items()))
    if len(results) > 1:
        scales = sorted(results)
        lo, hi = scales[0], scales[-1]
        med = {s: {step: statistics.median(r[step]["seconds"] for r in results[s]) for step in results[s][0]}
               for s in scales}
        cpu = {s: {step: statistics.median(r[step]["cpu_seconds"] for r in results[s]) for step in results[s][0]}
               for s in scales}
        peak = {s: statistics.median(r["first sync"]["peak_mb"] for r in results[s]) for s in scales}
        print()
        print(f"first sync x{hi}/x{lo}: wall time {med[hi]['first sync'] / med[lo]['first sync']:.2f}x, "
              f"CPU time {cpu[hi]['first sync'] / cpu[lo]['first sync']:.2f}x, peak memory {peak[hi] / peak[lo]:.2f}x")
        for s in scales:
            print(f"no-change re-sync at x{s}: {100 * med[s]['no-change re-sync'] / med[s]['first sync']:.1f} % "
                  f"of the first sync (CPU: {100 * cpu[s]['no-change re-sync'] / cpu[s]['first sync']:.1f} %)")
    if args.json:
        args.json.write_text(json.dumps({str(k): v for k, v in results.items()}, indent=2))


if __name__ == "__main__":
    main()
