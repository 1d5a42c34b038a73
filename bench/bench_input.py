"""The image input pipeline on the CPU (issue 9): how fast photographs become training batches.

    .venv/bin/python bench/bench_input.py [--images 2000] [--width 2000] [--height 1500] [--size 224]
                                          [--workers 2] [--repeat 3] [--dir DIR] [--json]

Makes ``--images`` photograph-like JPEGs (colour fields, a woven pattern, grain; quality 90)
of ``--width`` x ``--height`` px in ``--dir`` (default: a temporary directory; kept and reused
when given), then times one epoch of training batches (decode, downsize, RandomResizedCrop +
flip, tensors; batches of 64) through kgenrich's pipeline (models/image_data.py):

- old path:      what the image model did before -- PIL full decode on the main thread, the
                 augmentation on the full-size image (run once: it is the slowest);
- first epoch:   an empty downsized cache, one process (num_workers 0) and with workers;
- cached epoch:  the cache filled, one process and with workers.

Each figure is images/s, the median of ``--repeat`` runs with the range; the first-epoch runs
each start from an empty cache.  Beside it, the CPU time per image spent in the main process
and in the worker processes: on a machine shared with other jobs the wall-clock figures say
little about what idle cores would do, the CPU split says where the work runs.  The targets of the issue: workers >= 1.8x one process
(first epoch), cached epoch >= 5x the first (both with workers).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path


def make_photo(path: Path, width: int, height: int, seed: int) -> None:
    """A textile-like photograph: smooth colour variation, a woven repeat, fine grain (so the JPEG
    carries as much detail as a real photograph of a fabric, not a flat colour).  Drawn at a
    quarter of the size and enlarged, the grain added full size: PIL's C code, ~0.2 s a photograph."""
    import numpy as np
    from PIL import Image, ImageChops

    g = np.random.default_rng(seed)
    w, h = max(8, width // 4), max(8, height // 4)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    base = g.uniform(40, 200, 3).astype(np.float32)
    period = g.uniform(3, 10)
    angle = g.uniform(0, np.pi)
    u = x * np.cos(angle) + y * np.sin(angle)
    pattern = 35 * np.sin(u / period)[..., None] * np.array([1.0, 0.7, 0.4], np.float32)
    light = 30 * np.sin(x / w * 3 + g.uniform(0, 6))[..., None]
    small = Image.fromarray(np.clip(base + pattern + light, 0, 255).astype(np.uint8))
    img = small.resize((width, height), Image.BICUBIC)
    grain = Image.effect_noise((width, height), 10).convert("RGB")
    img = ImageChops.add(img, grain, scale=1.0, offset=-128)
    img.save(path, quality=90)


def photographs(directory: Path, n: int, width: int, height: int, workers: int) -> list[str]:
    from concurrent.futures import ProcessPoolExecutor

    directory.mkdir(parents=True, exist_ok=True)
    paths = [directory / f"photo-{i:05d}.jpg" for i in range(n)]
    todo = [(p, width, height, i) for i, p in enumerate(paths) if not p.is_file()]
    if todo:
        t0 = time.perf_counter()
        with ProcessPoolExecutor(max(1, workers)) as pool:
            list(pool.map(_make, todo, chunksize=16))
        print(f"made {len(todo)} photographs in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return [str(p) for p in paths]


def _make(args):
    make_photo(*args)


def train_transform(size: int):
    from kgenrich.models.image import ImageModel

    return ImageModel({"t": ["a", "b"]}, {"size": size})._transform(train=True)


CPU_MS: dict[str, list[tuple[float, float]]] = {}  # label -> (main process, workers) CPU ms per image, per run


def cpu_seconds() -> tuple[float, float]:
    """(this process, its finished children) CPU seconds: workers are children, reaped after each epoch."""
    import resource

    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time(), children.ru_utime + children.ru_stime


def epoch(paths: list[str], size: int, workers: int, cache_root, batch: int = 64, label: str = "") -> float:
    """images/s of one epoch of augmented batches through the DataLoader pipeline."""
    import numpy as np

    from kgenrich.models.image_data import ImageDataset, ResizedCache, cache_side
    from kgenrich.models.torchutil import LoaderBatches

    dataset = ImageDataset(paths, train_transform(size), size, ResizedCache(cache_root, cache_side(size)))
    source = LoaderBatches(dataset, workers)
    rows = np.arange(len(paths))
    order = [rows[i:i + batch] for i in range(0, len(rows), batch)]
    main0, children0 = cpu_seconds()
    t0 = time.perf_counter()
    seen = 0
    for (x,), _idx in source.batches(order, seed=0):
        seen += x.shape[0]
    elapsed = time.perf_counter() - t0
    main1, children1 = cpu_seconds()
    assert seen == len(paths) and source.readable.all()
    if label:
        CPU_MS.setdefault(label, []).append((1000 * (main1 - main0) / len(paths),
                                             1000 * (children1 - children0) / len(paths)))
    return len(paths) / elapsed


def old_path(paths: list[str], size: int, batch: int = 64) -> float:
    """The image model before this pipeline: full decode and augmentation on the main thread."""
    import torch

    from kgenrich.models.image_source import ImageSource

    source = ImageSource()
    transform = train_transform(size)
    t0 = time.perf_counter()
    for start in range(0, len(paths), batch):
        torch.stack([transform(source.open(p)) for p in paths[start:start + batch]])
    return len(paths) / (time.perf_counter() - t0)


def spread(values: list[float]) -> dict:
    return {"median": round(statistics.median(values), 1), "min": round(min(values), 1),
            "max": round(max(values), 1), "runs": len(values)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=2000)
    ap.add_argument("--width", type=int, default=2000)
    ap.add_argument("--height", type=int, default=1500)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--old-images", type=int, default=0, help="photographs for the old path (default: all)")
    ap.add_argument("--dir", type=Path, help="where the photographs are kept (default: a temporary directory)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)

    keep = args.dir is not None
    work = args.dir or Path(tempfile.mkdtemp(prefix="kgenrich-bench-input-"))
    try:
        paths = photographs(work / f"{args.width}x{args.height}", args.images, args.width, args.height,
                            args.workers)
        megabytes = sum(os.path.getsize(p) for p in paths) / 1e6
        cache = work / "cache"
        result = {"images": len(paths), "width": args.width, "height": args.height, "size": args.size,
                  "jpeg_mb": round(megabytes, 1), "workers": args.workers, "cpu_cores": os.cpu_count(),
                  "load_average_before": [round(x, 2) for x in os.getloadavg()]}
        old = paths[:args.old_images] if args.old_images else paths
        main0, _ = cpu_seconds()
        result["old_path"] = spread([old_path(old, args.size)])
        result["old_path"]["cpu_ms_per_image"] = {"main": round(1000 * (cpu_seconds()[0] - main0) / len(old), 2),
                                                  "workers": 0.0}
        runs: dict[str, list[float]] = {"first_one_process": [], "first_workers": [], "cached_one_process": [],
                                        "cached_workers": []}
        for _ in range(args.repeat):
            for workers, key in ((0, "first_one_process"), (args.workers, "first_workers")):
                shutil.rmtree(cache, ignore_errors=True)
                runs[key].append(epoch(paths, args.size, workers, cache, label=key))
            runs["cached_one_process"].append(epoch(paths, args.size, 0, cache, label="cached_one_process"))
            runs["cached_workers"].append(epoch(paths, args.size, args.workers, cache, label="cached_workers"))
        for key, values in runs.items():
            result[key] = spread(values)
            main = [m for m, _ in CPU_MS[key]]
            workers_ms = [w for _, w in CPU_MS[key]]
            result[key]["cpu_ms_per_image"] = {"main": round(statistics.median(main), 2),
                                               "workers": round(statistics.median(workers_ms), 2)}
        cached_files = [p for p in cache.rglob("*.jpg")]
        result["cache_mb"] = round(sum(p.stat().st_size for p in cached_files) / 1e6, 1)
        first_one = statistics.median(runs["first_one_process"])
        first_workers = statistics.median(runs["first_workers"])
        result["workers_vs_one_process"] = round(first_workers / first_one, 2)
        result["cached_vs_first"] = round(statistics.median(runs["cached_workers"]) / first_workers, 2)
        result["cached_vs_old_path"] = round(statistics.median(runs["cached_workers"]) / result["old_path"]["median"], 1)
        result["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{result['images']} JPEGs of {args.width}x{args.height} ({result['jpeg_mb']} MB), training size "
          f"{args.size}, batches of 64, {args.workers} workers, {result['cpu_cores']} cores, load average "
          f"{result['load_average_before']} -> {result['load_average_after']}")
    print("| pipeline | images/s (median) | range | runs | CPU ms/image: main process | in workers |")
    print("|---|---|---|---|---|---|")
    for key, label in (("old_path", "old path: full decode + augment on the main thread"),
                       ("first_one_process", "first epoch, one process"),
                       ("first_workers", f"first epoch, {args.workers} workers"),
                       ("cached_one_process", "cached epoch, one process"),
                       ("cached_workers", f"cached epoch, {args.workers} workers")):
        r = result[key]
        cpu = r.get("cpu_ms_per_image", {})
        print(f"| {label} | {r['median']} | {r['min']}-{r['max']} | {r['runs']} | {cpu.get('main', '-')} "
              f"| {cpu.get('workers', '-')} |")
    print(f"workers / one process (first epoch): {result['workers_vs_one_process']}x (target >= 1.8x); "
          f"cached / first epoch (workers): {result['cached_vs_first']}x (target >= 5x); "
          f"cached / old path: {result['cached_vs_old_path']}x; cache {result['cache_mb']} MB")


if __name__ == "__main__":
    main()
