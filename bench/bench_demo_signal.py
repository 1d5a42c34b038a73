"""Does the demo collection need fusion?  Per task, macro-F1 of simple models
on each modality alone and of a stacked combination.

Generates a demo collection, reads it back from an in-memory Oxigraph store
(texts, image URLs and asserted values, as the agent would), and trains:

- text: TF-IDF (word 1-2 grams + character 2-4 grams) + logistic regression;
- image: tiny hand-made features (8x8 pixels, colour histograms, weave
  energy at lags 1-4, edge density), averaged over an artifact's readable
  images, + logistic regression;
- tabular: one-hot museum + the other tasks' known groups + logistic regression;
- stack: logistic regression on the three modalities' out-of-fold log
  probabilities and missing-modality flags.

Every figure is 5-fold cross-validated over the artifacts whose value for the
task is known and maps to a group.  Usage:

    .venv/bin/python bench/bench_demo_signal.py [--size 3000] [--seed 0]
"""

from __future__ import annotations

import os

# One BLAS thread: on a busy 2-core machine OpenBLAS's spinning threads made
# each logistic regression ~200x slower.
# (Set before numpy is imported, which reads them once.)
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse
import tempfile
import time
from collections import Counter
from pathlib import Path
from urllib.parse import unquote, urlparse

import numpy as np
import pyoxigraph as ox
from PIL import Image
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from kgenrich.demo.generator import generate

TASKS = ("material", "technique", "place", "time", "depiction")
Q_TEXTS = """
PREFIX ecrm: <http://erlangen-crm.org/current/>
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
SELECT ?obj ?text WHERE { GRAPH ?g { ?obj ecrm:P3_has_note|rdfs:comment ?text } }
"""
Q_IMAGES = """
PREFIX ecrm: <http://erlangen-crm.org/current/>
PREFIX schema: <http://schema.org/>
SELECT ?obj ?url WHERE { GRAPH ?g { ?obj ecrm:P138i_has_representation ?img . ?img schema:contentUrl ?url } }
"""


def image_features(path: str) -> np.ndarray | None:
    try:
        with Image.open(path) as im:
            a = np.asarray(im.convert("RGB"), np.float32) / 255.0
    except Exception:
        return None  # missing file or not an image: skipped, as the agent must
    small = np.asarray(Image.fromarray((a * 255).astype(np.uint8)).resize((8, 8), Image.BILINEAR), np.float32).ravel() / 255
    hist = np.concatenate([np.histogram(a[..., c], bins=8, range=(0, 1))[0] for c in range(3)]) / a[..., 0].size
    g = a.mean(axis=2)
    tex = []
    for lag in (1, 2, 3, 4):
        tex += [np.abs(g[:, lag:] - g[:, :-lag]).mean(), np.abs(g[lag:] - g[:-lag]).mean(),
                np.abs(g[lag:, lag:] - g[:-lag, :-lag]).mean()]
    hsv = np.asarray(Image.fromarray((a * 255).astype(np.uint8)).convert("HSV"), np.float32) / 255
    stats = [a.std(), hsv[..., 1].mean(), hsv[..., 1].std(), hsv[..., 2].std(), (g > g.mean() + 0.25).mean()]
    return np.concatenate([small, hist, tex, stats]).astype(np.float32)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.time()
        coll = generate(Path(tmp), size=args.size, seed=args.seed, progress=False)
        print(f"generated {coll.n_artifacts} artifacts in {time.time() - t0:.1f}s")
        store = ox.Store()
        for f in coll.rdf_files:
            store.load(path=str(f), format=ox.RdfFormat.TRIG)
        texts: dict[str, list[str]] = {}
        for row in store.query(Q_TEXTS):
            texts.setdefault(row["obj"].value, []).append(row["text"].value)
        urls: dict[str, list[str]] = {}
        for row in store.query(Q_IMAGES):
            urls.setdefault(row["obj"].value, []).append(row["url"].value)

        objs = sorted(coll.truth)
        t = coll.truth
        t0 = time.time()
        n_feat = None
        img_feats = {}
        for o in objs:
            fs = [image_features(unquote(urlparse(u).path)) for u in urls.get(o, [])]
            fs = [f for f in fs if f is not None]
            if fs:
                img_feats[o] = np.mean(fs, axis=0)
                n_feat = len(img_feats[o])
        print(f"image features in {time.time() - t0:.1f}s; {len(img_feats)} artifacts with a readable image")

    X_img = np.stack([img_feats.get(o, np.zeros(n_feat, np.float32)) for o in objs])
    has_img = np.array([o in img_feats for o in objs], float)
    docs = [" ".join(texts.get(o, [])) for o in objs]
    has_txt = np.array([bool(texts.get(o)) for o in objs], float)

    def known_group(o: str, task: str) -> str:
        return t[o]["groups"][task] if (t[o]["known"][task] and t[o]["groups"][task] is not None) else "unknown"

    print(f"\n{'task':10s} {'n':>5s} {'text':>6s} {'image':>6s} {'tabular':>7s} {'stack':>6s}   (macro-F1, 5-fold CV)")
    for task in TASKS:
        idx = [i for i, o in enumerate(objs) if known_group(o, task) != "unknown"]
        y_all = np.array([known_group(objs[i], task) for i in idx])
        keep = {g for g, c in Counter(y_all).items() if c >= 30}
        idx = [i for i, yy in zip(idx, y_all) if yy in keep]
        y = np.array([known_group(objs[i], task) for i in idx])
        cv = StratifiedKFold(5, shuffle=True, random_state=0)

        tab = np.array([[t[objs[i]]["museum"]] + [known_group(objs[i], o) for o in TASKS if o != task] for i in idx])
        X_tab = OneHotEncoder(handle_unknown="ignore").fit_transform(tab)
        tfidf = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), min_df=2, sublinear_tf=True)
        words = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
        sub_docs = [docs[i] for i in idx]
        X_txt = sparse.hstack([tfidf.fit_transform(sub_docs), words.fit_transform(sub_docs)]).tocsr()
        X_im = np.hstack([X_img[idx], has_img[idx, None]])

        t1 = time.time()
        p_txt = cross_val_predict(LogisticRegression(C=5.0, max_iter=2000), X_txt, y, cv=cv, method="predict_proba")
        t2 = time.time()
        p_img = cross_val_predict(make_pipeline(StandardScaler(), LogisticRegression(C=0.3, max_iter=3000)), X_im, y,
                                  cv=cv, method="predict_proba")
        t3 = time.time()
        p_tab = cross_val_predict(LogisticRegression(C=1.0, max_iter=2000), X_tab, y, cv=cv, method="predict_proba")
        print(f"  [{task}: text {t2 - t1:.0f}s, image {t3 - t2:.0f}s, tabular {time.time() - t3:.0f}s]", flush=True)
        classes = np.unique(y)
        Z = np.hstack([np.log(p_txt + 1e-4), np.log(p_img + 1e-4), np.log(p_tab + 1e-4),
                       has_txt[idx, None], has_img[idx, None]])
        p_stack = cross_val_predict(LogisticRegression(C=1.0, max_iter=3000), Z, y,
                                    cv=StratifiedKFold(5, shuffle=True, random_state=1), method="predict_proba")

        f1_txt, f1_img, f1_tab, f1_stack = (f1_score(y, classes[p.argmax(1)], average="macro")
                                            for p in (p_txt, p_img, p_tab, p_stack))
        print(f"{task:10s} {len(y):5d} {f1_txt:6.3f} {f1_img:6.3f} {f1_tab:7.3f} {f1_stack:6.3f}"
              f"   groups: {', '.join(f'{g}={c}' for g, c in sorted(Counter(y).items()))}")


if __name__ == "__main__":
    main()
