"""One GPU check for issue 9, printing one JSON object (run through bench/gpu_check.sh).

    python bench/gpu_check.py [--smoke] [--budget 420] [--no-compile]

On a CUDA device (bf16 autocast, channels_last, cudnn.benchmark -- what the image and text
models do there):
- resnet152: training images/s (AdamW step, focal loss of the multitask heads, 224 px) and
  inference images/s at batch 64 and 256, eager; inference also under torch.compile;
- xlmr_base: XLM-R base built from config (random weights, the same compute as the real
  checkpoint), training steps at sequence length 256, sequences/s;
- input_pipeline: JPEG photographs (2000x1500) through kgenrich's DataLoader pipeline with
  workers: first epoch (decode + downsize + cache + augment) and cached epoch, images/s.
Each figure is the median of timed rounds after warm-up rounds, with its range.  Targets of the
issue on one H200: ResNet-152 inference >= 10,000 images/s, training >= 2,500 images/s.

``--smoke`` runs every part on the CPU at toy sizes (to check the script, not the figures).
A part that fails (e.g. out of memory) reports its error and the others still run; parts
left when the time budget is spent are skipped and say so.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
import traceback
from pathlib import Path


def rounds(step, warmup: int, timed: int, sync) -> list[float]:
    """Seconds per call of ``step``, ``timed`` rounds after ``warmup`` rounds."""
    for _ in range(warmup):
        step()
    sync()
    out = []
    for _ in range(timed):
        t0 = time.perf_counter()
        step()
        sync()
        out.append(time.perf_counter() - t0)
    return out


def per_second(items: int, seconds: list[float]) -> dict:
    rates = [items / s for s in seconds]
    return {"median": round(statistics.median(rates), 1), "min": round(min(rates), 1),
            "max": round(max(rates), 1), "rounds": len(rates)}


def training_step(net, x, y, opt, device):
    """One AdamW step of ``net`` on the batch ``x``, ``y`` (focal loss of the multitask heads)."""
    from kgenrich.models.losses import multitask_focal_loss
    from kgenrich.models.torchutil import autocast

    def step():
        with autocast(device):
            logits = net(x)
        loss = multitask_focal_loss(logits, y, 2.0)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def inference_step(model, x, device):
    """One forward pass of ``model`` on the batch ``x``, without gradients."""
    import torch

    from kgenrich.models.torchutil import autocast

    def step():
        with torch.no_grad(), autocast(device):
            model(x)

    return step


def resnet152(cfg, device, sync, compile_too: bool) -> dict:
    import torch

    from kgenrich.models.image import Backbone, ImageNet

    sizes = [8, 12, 20, 10, 15]  # five tasks' groups, about SILKNOW's
    net = ImageNet(Backbone("resnet152"), sizes).to(device)
    if device.startswith("cuda"):
        net = net.to(memory_format=torch.channels_last)
        torch.backends.cudnn.benchmark = True
    out = {}
    for batch in cfg["batches"]:
        x = torch.randint(0, 256, (batch, 3, cfg["px"], cfg["px"]), dtype=torch.uint8, device=device)
        if device.startswith("cuda"):
            x = x.contiguous(memory_format=torch.channels_last)
        y = torch.stack([torch.randint(0, k, (batch,), device=device) for k in sizes], dim=1)
        opt = torch.optim.AdamW(net.parameters(), lr=1e-4)
        net.train()
        train_step = training_step(net, x, y, opt, device)
        out[f"train_b{batch}"] = per_second(batch, rounds(train_step, cfg["warmup"], cfg["timed"], sync))
        net.eval()
        out[f"infer_b{batch}"] = per_second(batch, rounds(inference_step(net, x, device), cfg["warmup"],
                                                          cfg["timed"], sync))
        del train_step, opt  # the optimizer's state is freed before the next batch size
    if compile_too:
        batch = cfg["batches"][-1]
        x = torch.randint(0, 256, (batch, 3, cfg["px"], cfg["px"]), dtype=torch.uint8, device=device)
        if device.startswith("cuda"):
            x = x.contiguous(memory_format=torch.channels_last)
        compiled = torch.compile(net)
        t0 = time.perf_counter()
        infer_compiled = inference_step(compiled, x, device)
        infer_compiled()
        sync()
        out["compile_seconds"] = round(time.perf_counter() - t0, 1)
        out[f"infer_compiled_b{batch}"] = per_second(batch, rounds(infer_compiled, cfg["warmup"], cfg["timed"], sync))
    out["params_m"] = round(sum(p.numel() for p in net.parameters()) / 1e6, 1)
    return out


def xlmr_base(cfg, device, sync) -> dict:
    import torch
    from transformers import XLMRobertaConfig, XLMRobertaModel

    from kgenrich.models.losses import multitask_focal_loss
    from kgenrich.models.text import EncoderNet
    from kgenrich.models.torchutil import autocast

    config = XLMRobertaConfig(vocab_size=250002, hidden_size=cfg["hidden"], num_hidden_layers=cfg["layers"],
                              num_attention_heads=cfg["heads"], intermediate_size=4 * cfg["hidden"],
                              max_position_embeddings=514, type_vocab_size=1)
    sizes = [8, 12, 20, 10, 15]
    net = EncoderNet(XLMRobertaModel(config), 5, sizes, 256, 0.1).to(device)
    batch, length = cfg["text_batch"], cfg["length"]
    ids = torch.randint(5, 250000, (batch, length), device=device)
    mask = torch.ones(batch, length, dtype=torch.long, device=device)
    langs = torch.zeros(batch, 5, device=device)
    y = torch.stack([torch.randint(0, k, (batch,), device=device) for k in sizes], dim=1)
    opt = torch.optim.AdamW(net.parameters(), lr=2e-5)
    net.train()

    def step():
        with autocast(device):
            logits = net(ids, mask, langs)
        loss = multitask_focal_loss(logits, y, 2.0)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return {"train": per_second(batch, rounds(step, cfg["warmup"], cfg["timed"], sync)), "batch": batch,
            "length": length, "layers": cfg["layers"], "hidden": cfg["hidden"],
            "params_m": round(sum(p.numel() for p in net.parameters()) / 1e6, 1)}


def input_pipeline(cfg) -> dict:
    import shutil

    import bench_input

    from kgenrich.models.image_data import default_workers

    workers = default_workers()
    work = Path(tempfile.mkdtemp(prefix="kgenrich-gpu-check-"))
    try:
        paths = bench_input.photographs(work / "photos", cfg["photos"], cfg["photo_w"], cfg["photo_h"],
                                        max(1, workers + 1))
        first = bench_input.epoch(paths, cfg["px"], workers, work / "cache")
        cached = [bench_input.epoch(paths, cfg["px"], workers, work / "cache") for _ in range(2)]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {"workers": workers, "photos": len(paths), "photo_px": [cfg["photo_w"], cfg["photo_h"]],
            "first_epoch": round(first, 1), "cached_epoch": per_second(1, [1 / r for r in cached])}


FULL = {"batches": [64, 256], "px": 224, "warmup": 5, "timed": 20, "hidden": 768, "layers": 12, "heads": 12,
        "text_batch": 32, "length": 256, "photos": 1024, "photo_w": 2000, "photo_h": 1500}
SMOKE = {"batches": [2], "px": 32, "warmup": 1, "timed": 1, "hidden": 64, "layers": 2, "heads": 2,
         "text_batch": 2, "length": 32, "photos": 8, "photo_w": 400, "photo_h": 300}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smoke", action="store_true", help="toy sizes on the CPU: checks the script runs")
    ap.add_argument("--budget", type=float, default=420.0, help="seconds; parts not started by then are skipped")
    ap.add_argument("--no-compile", action="store_true", help="skip the torch.compile inference figure")
    args = ap.parse_args()
    import torch

    started = time.monotonic()
    device = "cuda" if torch.cuda.is_available() and not args.smoke else "cpu"
    cfg = SMOKE if args.smoke else FULL
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    result: dict = {"mode": "smoke" if args.smoke else "full", "device": device,
                    "gpu": torch.cuda.get_device_name(0) if device == "cuda" else None,
                    "torch": torch.__version__, "python": platform.python_version(), "cpu_cores": os.cpu_count(),
                    "precision": "bf16 autocast" if device == "cuda" else "fp32"}
    parts = [("resnet152", lambda: resnet152(cfg, device, sync, not args.no_compile and device == "cuda")),
             ("xlmr_base", lambda: xlmr_base(cfg, device, sync)),
             ("input_pipeline", lambda: input_pipeline(cfg))]
    for name, part in parts:
        if time.monotonic() - started > args.budget:
            result[name] = {"skipped": f"time budget of {args.budget:.0f} s spent"}
            continue
        t0 = time.monotonic()
        try:
            result[name] = part()
        except Exception as exc:  # report and go on: one JSON with whatever could be measured
            result[name] = {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
                            "where": traceback.format_exc().splitlines()[-3:]}
        result[name]["seconds"] = round(time.monotonic() - t0, 1)
        if device == "cuda":
            result[name]["max_memory_gb"] = round(torch.cuda.max_memory_allocated() / 2**30, 1)
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
    if not args.smoke and device == "cuda":
        r = result.get("resnet152", {})
        best_infer = max([v["median"] for k, v in r.items() if k.startswith("infer") and isinstance(v, dict)] or [0])
        best_train = max([v["median"] for k, v in r.items() if k.startswith("train") and isinstance(v, dict)] or [0])
        result["targets"] = {"resnet152_inference_10000": best_infer >= 10000,
                             "resnet152_training_2500": best_train >= 2500}
    result["seconds"] = round(time.monotonic() - started, 1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
