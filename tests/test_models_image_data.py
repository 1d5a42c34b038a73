"""The image input pipeline: downsized copies cached on disk, DataLoader workers, the image model fed by them."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from test_models_data import COLOURS, groups_of, make_labels

from kgenrich.models import image_data
from kgenrich.models.image import ImageModel
from kgenrich.models.image_data import ImageDataset, ResizedCache, cache_side, decode_downsized
from kgenrich.models.torchutil import LoaderBatches
from kgenrich.records import ArtifactRecord

torch.set_num_threads(1)


def photo(path: Path, w: int, h: int, seed: int = 0, colour=(120, 80, 40)) -> Path:
    """A JPEG with structure (gradients, stripes, noise), not a flat colour that compresses to nothing."""
    g = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.array(colour, np.float32)
    img = base + 40 * np.sin(x[..., None] / 9.0 + np.arange(3)) + 30 * np.cos(y[..., None] / 13.0)
    img += g.normal(0, 12, (h, w, 3))
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(path, quality=92)
    return path


def test_cache_side_is_115_percent_of_the_training_size():
    assert cache_side(224) == 258 and cache_side(96) == 111 and cache_side(32) == 37


def test_large_photographs_are_decoded_once_then_read_small(tmp_path, monkeypatch):
    src = photo(tmp_path / "big.jpg", 1600, 1200)
    img, smaller = decode_downsized(src, 258)
    assert smaller and min(img.size) == 258 and img.size == (344, 258)

    cache = ResizedCache(tmp_path / "cache", 258)
    first = cache.load(src)
    files = [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]
    assert len(files) == 1 and files[0].parent.parent.name == "resized-258" and files[0].suffix == ".jpg"
    assert first.size == (344, 258)

    decodes = []
    real = image_data.decode_downsized
    monkeypatch.setattr(image_data, "decode_downsized", lambda p, s: decodes.append(p) or real(p, s))
    again = cache.load(src)
    assert decodes == [] and again.size == (344, 258)  # from the small copy
    assert np.abs(np.asarray(again, np.int16) - np.asarray(first, np.int16)).mean() < 6  # JPEG at quality 90 of a noisy picture

    # a changed photograph has another key: decoded again, never the stale copy
    photo(src, 1600, 1200, seed=1, colour=(20, 200, 20))
    os.utime(src, ns=(1, 1))
    fresh = cache.load(src)
    assert decodes == [src] and np.asarray(fresh)[..., 1].mean() > np.asarray(first)[..., 1].mean() + 50
    assert len([p for p in (tmp_path / "cache").rglob("*") if p.is_file()]) == 2
    assert not list((tmp_path / "cache").rglob("*.tmp"))

    # a damaged copy is replaced from the source
    cached = cache.path_for(src)
    cached.write_bytes(b"not a jpeg")
    assert cache.load(src).size == (344, 258) and len(decodes) == 2
    with Image.open(cached) as img:
        assert img.size == (344, 258)


def test_small_images_are_read_as_they_are_and_not_copied(tmp_path):
    src = tmp_path / "small.png"
    Image.new("RGB", (64, 48), (10, 20, 30)).save(src)
    cache = ResizedCache(tmp_path / "cache", 111)
    assert cache.load(src).size == (64, 48)
    assert not (tmp_path / "cache").exists()
    assert ResizedCache(None, 111).load(photo(tmp_path / "b.jpg", 300, 220)).size == (151, 111)  # no cache


def test_two_workers_give_what_one_process_gives(tmp_path):
    paths = [str(photo(tmp_path / f"p{i}.jpg", 160 + 16 * i, 120, seed=i)) for i in range(5)]
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8 truncated")
    paths.insert(3, str(tmp_path / "broken.jpg"))
    model = ImageModel({"t": ["a", "b"]}, {"size": 64, "backbone": "resnet18"})
    order = [np.arange(0, 3), np.arange(3, 6)]

    def run(transform, workers, seed):
        source = LoaderBatches(ImageDataset(paths, transform, 64, ResizedCache(tmp_path / "cache", 74)), workers)
        x = torch.cat([inputs[0] for inputs, _ in source.batches(order, seed=seed)])
        return x, source.readable

    x2, ok2 = run(model._transform(train=False), 2, 0)  # the workers fill the cache ...
    x0, ok0 = run(model._transform(train=False), 0, 0)  # ... this process reads it: the same pixels
    assert x0.shape == (6, 3, 64, 64) and torch.equal(x0, x2)
    assert ok0.tolist() == ok2.tolist() == [True] * 3 + [False] + [True] * 2
    assert float(x2[3].abs().sum()) == 0.0  # the unreadable file is a blank, flagged as such
    # augmentation in the workers is seeded: the same epoch seed, the same crops
    a, _ = run(model._transform(train=True), 2, 5)
    b, _ = run(model._transform(train=True), 2, 5)
    c, _ = run(model._transform(train=True), 2, 6)
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_fine_tuning_decodes_each_photograph_once_over_all_epochs(tmp_path, monkeypatch):
    groups = groups_of(make_labels())
    records = []
    for i in range(18):
        material = ["animal", "metal", "vegetal"][i % 3]
        path = photo(tmp_path / f"a{i}.jpg", 200, 150, seed=i, colour=COLOURS[material])
        records.append(ArtifactRecord(iri=f"http://ex.org/obj/{i}", graph="http://ex.org/g", museum="m", texts=[],
                                      images=[str(path)], labels={"material": material, "place": None, "time": None},
                                      values={}))
    decodes = []
    real = image_data.decode_downsized
    monkeypatch.setattr(image_data, "decode_downsized", lambda p, s: decodes.append(p) or real(p, s))
    params = {"backbone": "resnet18", "weights": "none", "size": 32, "epochs": 3, "batch_size": 8, "threads": 1,
              "device": "cpu", "num_workers": 0, "cache_dir": str(tmp_path / "cache")}
    model = ImageModel(groups, params).fit(records)
    assert len(model.info["loss"]) == 3
    assert len(decodes) == 18  # the readability check; the three epochs read the 37-px copies
    assert len(list((tmp_path / "cache" / "resized-37").rglob("*.jpg"))) == 18
    p = model.predict(records)  # prediction reads the copies too
    assert len(decodes) == 18 and p["material"].shape == (18, 3) and not np.isnan(p["material"]).any()
