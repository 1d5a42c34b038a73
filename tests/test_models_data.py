"""Synthetic records for the model tests (and a check that they are what the tests assume).

Three tasks whose groups leave a trace in every modality: the material group
colours the images, the words of the texts name it in one of four languages,
and the museum and the other tasks correlate with it -- so each modality can
learn something, and a test can tell a working model from a broken one.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
from PIL import Image

from kgenrich.records import ArtifactRecord
from kgenrich.task_types import Group, Task, TaskLabels

TASKS = {"material": ["animal", "metal", "vegetal"], "place": ["ES", "FR", "IT"], "time": ["c17", "c18"]}
COLOURS = {"animal": (200, 40, 40), "metal": (230, 200, 40), "vegetal": (40, 160, 60)}
WORDS = {
    "animal": {"en": "silk satin", "es": "seda raso", "fr": "soie satin", "it": "seta raso"},
    "metal": {"en": "gold thread", "es": "hilo de oro", "fr": "fil d'or", "it": "filo d'oro"},
    "vegetal": {"en": "linen cotton", "es": "lino algodón", "fr": "lin coton", "it": "lino cotone"},
}
FILLER = ["fragment", "textile", "pattern", "flowers", "border", "museum", "object", "piece"]


def make_labels(tasks=TASKS) -> dict[str, TaskLabels]:
    out = {}
    for i, (name, ids) in enumerate(tasks.items()):
        task = Task(name=name, iri=f"http://ex.org/task/{name}", label=name, artifact_class="ecrm:E22",
                    property=f"http://ex.org/p/{name}", grouping="collection", order=i)
        out[name] = TaskLabels(task=task, groups=[Group(id=g, label=g, concept=f"http://ex.org/c/{g}", support=10)
                                                  for g in ids], dropped=[], unmapped=0)
    return out


def make_records(n: int = 90, seed: int = 0, image_dir: Path | None = None, text: bool = True,
                 missing: float = 0.2, images_per: int = 1, noise: float = 0.15) -> list[ArtifactRecord]:
    rng = random.Random(seed)
    records = []
    for i in range(n):
        museum = ["mad", "lyon", "rome"][i % 3]
        place = {"mad": "ES", "lyon": "FR", "rome": "IT"}[museum] if rng.random() > noise else rng.choice(TASKS["place"])
        material = TASKS["material"][(i // 3) % 3] if rng.random() > noise else rng.choice(TASKS["material"])
        time_ = "c17" if (material == "animal") != (rng.random() < noise) else "c18"
        labels = {"material": material, "place": place, "time": time_}
        # some labels unknown: the masking paths get exercised
        for t in list(labels):
            if rng.random() < missing:
                labels[t] = None
        values = {t: ([f"http://ex.org/c/{g}"] if g else []) for t, g in labels.items()}
        texts = []
        if text:
            lang = ["en", "es", "fr", "it"][rng.randrange(4)]
            words = WORDS[material][lang] if rng.random() > noise else rng.choice(FILLER)
            texts = [(f"{rng.choice(FILLER)} {words} {rng.choice(FILLER)}", lang)]
        images = []
        if image_dir is not None:
            for j in range(images_per):
                path = Path(image_dir) / f"a{i}_{j}.png"
                if not path.exists():
                    base = np.array(COLOURS[material], dtype=np.float64)
                    arr = np.clip(base + np.random.default_rng(i * 10 + j).normal(0, 40, (32, 32, 3)), 0, 255)
                    Image.fromarray(arr.astype(np.uint8)).save(path)
                images.append(str(path))
        records.append(ArtifactRecord(iri=f"http://ex.org/obj/{i}", graph=f"http://ex.org/graph/{museum}",
                                      museum=museum, texts=texts, images=images, labels=labels, values=values))
    return records


def groups_of(labels) -> dict[str, list[str]]:
    return {t: tl.group_ids for t, tl in labels.items()}


def test_synthetic_records_carry_labels_and_gaps(tmp_path):
    recs = make_records(30, image_dir=tmp_path)
    assert len(recs) == 30
    assert any(r.labels["material"] is None for r in recs)
    assert all(Path(r.images[0]).is_file() for r in recs)
    assert {lang for r in recs for _, lang in r.texts} <= {"en", "es", "fr", "it"}
