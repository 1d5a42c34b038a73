"""A synthetic silk collection in the SILKNOW graph shape, for ``kgenrich demo``.

``generate(out_dir, size, seed)`` writes

- ``vocabulary.trig``: the demo thesaurus, the GeoNames places and the
  centuries and periods (data/*.ttl) in the named graph
  ``https://w3id.org/kgenrich/demo/graph/vocabulary``;
- ``museum-<name>.trig``: one named graph per museum,
  ``http://data.silknow.org/graph/demo-<name>``, with the artifacts
  (E22), their productions (E12), time-spans (E52), descriptions and images
  (E38 with ``schema:contentUrl`` as an absolute ``file://`` URI);
- ``images/<museum>/*.jpg``: the photographs (64x64 JPEG).

How the hidden truth is made, and why each modality knows only part of it:

1. museum -> country (each museum collects mostly its own country's silks),
   country -> century, (country, century, museum habit) -> technique,
   (technique, century) -> material, (country, century) -> depiction.
   These correlations are what the tabular model (museum + the other tasks'
   known values) can learn.
2. Photographs (images.py) show technique, material, depiction and the
   century's palette, each cue lost on some photographs; the place only
   weakly (the scale of the pattern repeat).
3. Descriptions (texts.py) mention each property with some probability, in
   the museum's language; the place and the time mostly come from there.
4. Gaps: a share of every task's values is left out of the graph (about
   20% material, 65% technique, 50% depiction, 40% place, 50% time, varying
   by museum), independently of the value, as in SILKNOW's data.

Everything is drawn from numpy generators seeded by (seed, artifact index), so
a seed and a size give the same bytes every time (file URIs aside, which name
the output directory).
"""

from __future__ import annotations

import shutil
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from . import images as imaging
from . import texts
from .trig import TrigDocument, iri, literal
from .vocab import CENTURIES, PERIOD, VOC, Vocabulary, load_vocabulary, write_vocabulary_trig

VOCABULARY_GRAPH = "https://w3id.org/kgenrich/demo/graph/vocabulary"
MUSEUM_GRAPH = "http://data.silknow.org/graph/{}"
DEMO_NS = "https://w3id.org/kgenrich/demo/"
_UUID_NS = uuid.UUID("6f3b0c52-5d0e-4c1e-9d57-8a1f0b7e2c11")  # fixed: IRIs stable across runs
_MARKER = ".kgenrich-demo-images"  # lets a rerun clear only an images folder we made

PREFIXES = {
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
    "ecrm": "http://erlangen-crm.org/current/",
    "schema": "http://schema.org/",
    "voc": VOC,
    "per": PERIOD,
    "aat": "http://vocab.getty.edu/aat/",
    "dobj": DEMO_NS + "object/",
    "dprod": DEMO_NS + "production/",
    "dts": DEMO_NS + "timespan/",
    "dimg": DEMO_NS + "image/",
}

COUNTRIES = ("ES", "FR", "IT", "GB", "CN")


@dataclass(frozen=True)
class Museum:
    name: str  # the graph is http://data.silknow.org/graph/<name>
    lang: str  # language of its descriptions
    weight: float  # share of the collection
    countries: dict[str, float]  # where its silks come from
    habit: dict[str, float]  # technique multipliers: what it collects
    missing: dict[str, float]  # share of each task's values it does not record
    p_no_text: float
    second_lang: tuple[str, float] | None = None  # (language, probability) of a second description
    note: str = "ecrm:P3_has_note"  # where its descriptions go
    inv: str = "INV"


MUSEUMS: tuple[Museum, ...] = (
    Museum("demo-ceres", "es", 0.24, {"ES": .72, "IT": .12, "FR": .08, "CN": .05, "GB": .03},
           {"damask": 1.6}, {"material": .15, "technique": .60, "depiction": .45, "place": .35, "time": .45},
           0.12, inv="CE"),
    Museum("demo-joconde", "fr", 0.22, {"FR": .68, "IT": .14, "ES": .06, "CN": .09, "GB": .03},
           {"embroidery": 1.6}, {"material": .25, "technique": .70, "depiction": .40, "place": .45, "time": .55},
           0.15, inv="JO"),
    Museum("demo-unipa", "it", 0.18, {"IT": .72, "ES": .10, "FR": .10, "CN": .05, "GB": .03},
           {"velvet": 1.6}, {"material": .20, "technique": .62, "depiction": .60, "place": .40, "time": .50},
           0.15, second_lang=("en", 0.15), inv="UP"),
    Museum("demo-vam", "en", 0.20, {"GB": .36, "CN": .26, "FR": .15, "IT": .13, "ES": .10},
           {"other_technique": 1.3}, {"material": .18, "technique": .65, "depiction": .50, "place": .35, "time": .45},
           0.10, note="rdfs:comment", inv="VA"),
    Museum("demo-imatex", "ca", 0.16, {"ES": .50, "FR": .18, "IT": .15, "CN": .10, "GB": .07},
           {}, {"material": .22, "technique": .72, "depiction": .55, "place": .48, "time": .60},
           0.20, second_lang=("es", 0.30), inv="IM"),
)

# P(century | country), 15th .. 20th.  The 15th century is rare on purpose:
# at the default size it falls below the tasks' minimum support.
CENTURY_P = {
    "ES": [.07, .20, .22, .22, .18, .11],
    "FR": [.03, .10, .20, .30, .23, .14],
    "IT": [.10, .30, .25, .17, .11, .07],
    "GB": [.01, .04, .10, .25, .34, .26],
    "CN": [.04, .10, .16, .26, .26, .18],
}
TECHNIQUE_P = {
    "ES": {"damask": .48, "embroidery": .15, "velvet": .15, "other_technique": .22},
    "FR": {"damask": .15, "embroidery": .42, "velvet": .10, "other_technique": .33},
    "IT": {"damask": .20, "embroidery": .10, "velvet": .52, "other_technique": .18},
    "GB": {"damask": .14, "embroidery": .30, "velvet": .06, "other_technique": .50},
    "CN": {"damask": .38, "embroidery": .42, "velvet": .05, "other_technique": .15},
}
# Velvet and damask were old luxuries; printed and plain cloth grew later.
TECHNIQUE_BY_CENTURY = {
    "damask": [1.2, 1.2, 1.1, 1.0, 0.8, 0.7],
    "embroidery": [1.0] * 6,
    "velvet": [1.6, 1.5, 1.3, 0.8, 0.6, 0.5],
    "other_technique": [0.6, 0.7, 0.8, 1.0, 1.5, 1.9],
}
MATERIAL_P = {
    "damask": {"animal_fibre": .82, "vegetal_fibre": .10, "metal_thread": .08},
    "embroidery": {"animal_fibre": .35, "vegetal_fibre": .17, "metal_thread": .48},
    "velvet": {"animal_fibre": .84, "vegetal_fibre": .06, "metal_thread": .10},
    "other_technique": {"animal_fibre": .42, "vegetal_fibre": .50, "metal_thread": .08},
}
VEGETAL_BY_CENTURY = [0.6, 0.6, 0.8, 1.0, 1.5, 2.0]
DEPICTION_P = {
    "ES": {"flower": .42, "animal": .20, "geometrical_composition": .26, "figure": .12},
    "FR": {"flower": .52, "animal": .10, "geometrical_composition": .16, "figure": .22},
    "IT": {"flower": .38, "animal": .30, "geometrical_composition": .16, "figure": .16},
    "GB": {"flower": .38, "animal": .08, "geometrical_composition": .44, "figure": .10},
    "CN": {"flower": .20, "animal": .60, "geometrical_composition": .08, "figure": .12},
}
DEPICTION_BY_CENTURY = {
    "flower": [.8, .9, 1.0, 1.4, 1.1, .8],
    "animal": [1.6, 1.3, 1.0, .8, .8, .7],
    "geometrical_composition": [.8, .8, .9, .8, 1.3, 2.2],
    "figure": [1.2, 1.2, 1.1, 1.0, .8, .6],
}
# Fine concepts within each group (local names in the demo vocabulary) and their weights.
FINE: dict[str, dict[str, float]] = {
    "animal_fibre": {"silk": 6, "wool": 1.5, "animal_fibre": 1},
    "vegetal_fibre": {"linen": 2, "cotton": 2, "vegetal_fibre": 1},
    "metal_thread": {"gold_thread": 3, "silver_thread": 1.5, "gilt_silver_thread": 1, "metal_thread": 1},
    "damask": {"damask": 4, "brocaded_damask": 1.5},
    "embroidery": {"embroidery": 4, "gold_embroidery": 1.5},
    "velvet": {"velvet": 3, "figured_velvet": 2},
    "other_technique": {"tabby": 2, "satin": 2, "lampas": 1.5, "printing": 2},
    "flower": {"rose": 2, "tulip": 1.5, "carnation": 1.5, "flower": 1},
    "animal": {"bird": 1.5, "peacock": 1, "lion": 1.5, "dragon": 1, "animal": 0.5},
    "geometrical_composition": {"stripes": 2, "lozenge": 1.5, "check": 1.5, "geometrical_composition": 0.5},
    "figure": {"human_figure": 1.5, "angel": 1.5, "shepherdess": 1},
}
# Concepts in no collection: a few artifacts really are made of / show these.
UNMAPPED = {"material": "paper", "technique": "passementerie", "depiction": "coat_of_arms"}
P_UNMAPPED = 0.012
PERIODS = {0: "isabelline", 1: "mannerism", 2: "louis_xiv", 3: "rococo", 4: "empire", 5: "art_deco"}
P_PERIOD = 0.3  # time-span falls within a named period rather than the century
P_ART_NOUVEAU = 0.04  # 19th/20th century: an unmapped period spanning both
P_CITY = 0.75  # place is a city rather than the country
P_SECOND_VALUE = 0.05  # a second concept of the same group (e.g. silk and wool)
N_IMAGES_P = [0.12, 0.60, 0.22, 0.06]  # 0, 1, 2 or 3 photographs
P_MISSING_FILE = 0.012  # an image reference to a file that does not exist
P_NOT_IMAGE = 0.010  # an image reference to a file that is not an image
TASKS = ("material", "technique", "depiction", "place", "time")


@dataclass
class DemoCollection:
    """What :func:`generate` wrote."""

    rdf_files: list[Path]  # TriG files to load: vocabulary first, then the museum graphs
    images_dir: Path
    n_artifacts: int
    museums: list[str]  # museum graph IRIs
    # Hidden truth per artifact IRI, for diagnostics: museum, true group per
    # task (None: an unmapped concept), true concepts, which values the graph
    # asserts ("known"), what the descriptions mention, image counts.
    truth: dict = field(default_factory=dict)
    n_images: int = 0  # image files written
    n_broken_image_refs: int = 0  # references to missing files or non-images


def _choice(rng: np.random.Generator, weights: dict[str, float]) -> str:
    keys = list(weights)
    p = np.array([weights[k] for k in keys], dtype=float)
    return keys[int(rng.choice(len(keys), p=p / p.sum()))]


def _uid(seed: int, index: int) -> str:
    return uuid.uuid5(_UUID_NS, f"{seed}/{index}").hex


def _check_world(vocab: Vocabulary) -> None:
    """The world model may only use concepts the thesaurus defines, in the groups it says."""
    task_of_group = {g: t for t, gs in vocab.groups.items() for g in gs}
    for group, fines in FINE.items():
        task = task_of_group[group]
        for fine in fines:
            found = vocab.group_of[task].get(VOC + fine, "missing")
            if found != group:
                raise AssertionError(f"demo concept {fine} is in group {found}, expected {group}")
    for task, fine in UNMAPPED.items():
        if vocab.group_of[task].get(VOC + fine, "missing") is not None:
            raise AssertionError(f"{fine} should be in no {task} group")


def _draw_truth(rng: np.random.Generator, museum: Museum) -> dict:
    """The hidden values of one artifact (local names / codes / century index)."""
    country = _choice(rng, museum.countries)
    century = int(rng.choice(6, p=np.array(CENTURY_P[country]) / sum(CENTURY_P[country])))
    tw = {t: p * TECHNIQUE_BY_CENTURY[t][century] * museum.habit.get(t, 1.0) for t, p in TECHNIQUE_P[country].items()}
    technique_group = _choice(rng, tw)
    mw = dict(MATERIAL_P[technique_group])
    mw["vegetal_fibre"] *= VEGETAL_BY_CENTURY[century]
    material_group = _choice(rng, mw)
    dw = {d: p * DEPICTION_BY_CENTURY[d][century] for d, p in DEPICTION_P[country].items()}
    depiction_group = _choice(rng, dw)
    fine_w = dict(FINE["animal"])
    fine_w["dragon"] *= 4 if country == "CN" else 1  # dragons are Chinese silks' animal
    out = {
        "country": country,
        "century": century,
        "technique": (technique_group, _choice(rng, FINE[technique_group])),
        "material": (material_group, _choice(rng, FINE[material_group])),
        "depiction": (depiction_group, _choice(rng, fine_w if depiction_group == "animal" else FINE[depiction_group])),
    }
    for task, fine in UNMAPPED.items():
        if rng.random() < P_UNMAPPED:
            out[task] = (None, fine)
    return out


@dataclass
class _Artifact:
    """One artifact's hidden world (drawn from stream 0 of its generator) and what was made of it."""

    index: int
    uid: str
    museum: Museum
    truth: dict  # _draw_truth
    known: dict[str, bool]  # which task values the graph asserts
    concept: dict[str, str]  # material, technique, depiction: the fine concepts' IRIs
    country_iri: str
    place: str
    century_iri: str
    period: str | None
    rng: np.random.Generator  # stream 0, still drawn from for second values
    texts: list[tuple[str, str]] = field(default_factory=list)  # (text, language)
    mentioned: set[str] = field(default_factory=set)
    title: str = ""
    images: list[tuple[str, str]] = field(default_factory=list)  # (image node, file URI)
    ok_images: int = 0
    broken_images: int = 0

    @property
    def time_value(self) -> str:
        return self.period or self.century_iri


def _prepare_images_dir(out_dir: Path) -> Path:
    images_dir = out_dir / "images"
    if (images_dir / _MARKER).exists():
        shutil.rmtree(images_dir)  # our own previous output: stale pictures must not linger
    images_dir.mkdir(exist_ok=True)
    (images_dir / _MARKER).write_text("written by kgenrich.demo.generator; removed on regeneration\n")
    for m in MUSEUMS:
        (images_dir / m.name).mkdir(exist_ok=True)
    return images_dir


def _draw_artifact(seed: int, i: int, vocab: Vocabulary, museum_p: np.ndarray) -> _Artifact:
    """The world of artifact ``i``: its museum, hidden values, which are known, its place and time."""
    # Separate streams for the world, the texts and the pictures, so that
    # changing how one is drawn does not reshuffle the others.
    rng = np.random.default_rng([seed, i, 0])
    museum = MUSEUMS[int(rng.choice(len(MUSEUMS), p=museum_p))]
    t = _draw_truth(rng, museum)
    known = {task: bool(rng.random() >= museum.missing[task]) for task in TASKS}
    concept = {task: VOC + t[task][1] for task in ("material", "technique", "depiction")}
    country_iri = vocab.country_iri[t["country"]]
    if rng.random() < P_CITY:
        cities = vocab.cities[t["country"]]
        place = cities[int(rng.integers(0, len(cities)))]
    else:
        place = country_iri
    period = PERIOD + PERIODS[t["century"]] if rng.random() < P_PERIOD else None
    if t["century"] >= 4 and rng.random() < P_ART_NOUVEAU:
        period = PERIOD + "art_nouveau"
    return _Artifact(i, _uid(seed, i), museum, t, known, concept, country_iri, place, CENTURIES[t["century"]],
                     period, rng)


def _describe(seed: int, a: _Artifact, vocab: Vocabulary) -> None:
    """The artifact's descriptions (stream 1), in its museum's language(s), and its title."""
    trng = np.random.default_rng([seed, a.index, 1])
    obj_type_idx = int(trng.integers(0, 7))  # same kind of object in every language
    museum, t, concept = a.museum, a.truth, a.concept
    if trng.random() >= museum.p_no_text:
        langs = [museum.lang]
        if museum.second_lang and trng.random() < museum.second_lang[1]:
            langs.append(museum.second_lang[0])
        facts = texts.TextFacts(
            material=concept["material"], material_broader=vocab.broader.get(concept["material"]),
            technique=concept["technique"], technique_broader=vocab.broader.get(concept["technique"]),
            depiction=concept["depiction"], depiction_broader=vocab.broader.get(concept["depiction"]),
            place=a.place, country=t["country"], country_iri=a.country_iri,
            century=t["century"], century_iri=a.century_iri,
            period=a.period if a.period and vocab.period_century.get(a.period) else None,
        )
        for lang in langs:
            text, said = texts.describe(trng, vocab, facts, lang, texts.FRAMES[lang]["objects"][obj_type_idx])
            a.texts.append((text, lang))
            a.mentioned |= said
    a.title = f"{texts.FRAMES[museum.lang]['objects'][obj_type_idx]}, {museum.inv}-{a.index:05d}"


def _photograph(seed: int, a: _Artifact, images_dir: Path) -> None:
    """The artifact's photographs (stream 2) and its broken image references."""
    t, i = a.truth, a.index
    irng = np.random.default_rng([seed, i, 2])
    n_img = int(irng.choice(len(N_IMAGES_P), p=N_IMAGES_P))
    spec = imaging.ImageSpec(
        technique=t["technique"][1], technique_group=t["technique"][0] or "other_technique",
        material=t["material"][1], material_group=t["material"][0] or "vegetal_fibre",
        depiction=t["depiction"][1], century=t["century"], country=t["country"],
    )
    # Artifacts 1 and 2 always get one extra, broken reference (a missing
    # file, a non-image), so that even a tiny demo exercises the agent's
    # skip-and-count path.
    n_refs = n_img + (1 if i in (1, 2) else 0)
    for k in range(n_refs):
        rel = Path(a.museum.name) / f"{a.uid}_{k}.jpg"
        roll = irng.random() if k < n_img else (0.0 if i == 1 else P_MISSING_FILE)
        if roll < P_MISSING_FILE:
            a.broken_images += 1  # referenced, never written
        elif roll < P_MISSING_FILE + P_NOT_IMAGE:
            a.broken_images += 1  # a web page saved under an image's name
            (images_dir / rel).write_text("<html><body><h1>404 Not Found</h1></body></html>\n")
        else:
            arr = imaging.render(spec, irng)
            # JPEG, as museums publish them: a quarter of a PNG's size for these noisy pictures.
            Image.fromarray(arr).save(images_dir / rel, format="JPEG", quality=90)
            a.ok_images += 1
        a.images.append((f"dimg:{a.uid}_{k}", (images_dir / rel).as_uri()))


def _with_second(a: _Artifact, group: str | None, first: str) -> list[str]:
    """A value, and now and then a second concept of the same group (e.g. silk and wool)."""
    values = [first]
    if group is not None and a.rng.random() < P_SECOND_VALUE:
        other = [f for f in FINE[group] if VOC + f != first]
        values.append(VOC + other[int(a.rng.integers(0, len(other)))])
    return values


def _assert_graph(doc: TrigDocument, a: _Artifact) -> dict[str, list[str]]:
    """The artifact's triples in its museum's graph: only the known values are asserted.  Returns them."""
    t, known, concept, museum = a.truth, a.known, a.concept, a.museum
    graph = MUSEUM_GRAPH.format(museum.name)
    obj, prod, ts = f"dobj:{a.uid}", f"dprod:{a.uid}", f"dts:{a.uid}"
    po: list[tuple[str, str | list[str]]] = [
        ("a", "ecrm:E22_Man-Made_Object"),
        ("rdfs:label", literal(a.title, museum.lang)),
        (museum.note, [literal(text, lang) for text, lang in a.texts]),
        ("ecrm:P138i_has_representation", [img for img, _ in a.images]),
    ]
    asserted: dict[str, list[str]] = {}
    if known["depiction"]:
        asserted["depiction"] = _with_second(a, t["depiction"][0], concept["depiction"])
        po.append(("ecrm:P65_shows_visual_item", [iri(c) for c in asserted["depiction"]]))
    doc.add(graph, obj, po)
    for img, url in a.images:
        doc.add(graph, img, [("a", "ecrm:E38_Image"), ("schema:contentUrl", literal(url))])

    ppo: list[tuple[str, str | list[str]]] = [("a", "ecrm:E12_Production"), ("ecrm:P108_has_produced", obj)]
    if known["material"]:
        asserted["material"] = _with_second(a, t["material"][0], concept["material"])
        ppo.append(("ecrm:P126_employed", [iri(c) for c in asserted["material"]]))
    if known["technique"]:
        asserted["technique"] = [concept["technique"]]
        ppo.append(("ecrm:P32_used_general_technique", iri(concept["technique"])))
    if known["place"]:
        asserted["place"] = [a.place]
        ppo.append(("ecrm:P8_took_place_on_or_within", iri(a.place)))
    if known["time"]:
        asserted["time"] = [a.time_value]
        ppo.append(("ecrm:P4_has_time-span", ts))
    doc.add(graph, prod, ppo)
    if known["time"]:
        doc.add(graph, ts, [("a", "ecrm:E52_Time-Span"), ("ecrm:P86_falls_within", iri(a.time_value))])
    return asserted


def _truth_of(a: _Artifact, asserted: dict[str, list[str]]) -> dict:
    """The hidden truth of one artifact as DemoCollection.truth keeps it."""
    t = a.truth
    return {
        "index": a.index,
        "museum": a.museum.name,
        "groups": {
            "material": t["material"][0],
            "technique": t["technique"][0],
            "depiction": t["depiction"][0],
            "place": t["country"],
            "time": "aat:" + a.century_iri.rsplit("/", 1)[1],
        },
        "concepts": {**a.concept, "place": a.place, "time": a.time_value},
        "known": a.known,
        "asserted": asserted,
        "mentioned": sorted(a.mentioned),
        "languages": [lang for _, lang in a.texts],
        "images": a.ok_images,
        "broken_images": a.broken_images,
    }


def generate(out_dir: Path, size: int = 3000, seed: int = 0, progress: bool = True) -> DemoCollection:
    """Write a demo collection of ``size`` artifacts into ``out_dir``; see the module doc."""
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    images_dir = _prepare_images_dir(out_dir)

    vocab = load_vocabulary()
    _check_world(vocab)
    vocab_file = out_dir / "vocabulary.trig"
    write_vocabulary_trig(vocab, vocab_file, VOCABULARY_GRAPH)

    doc = TrigDocument(PREFIXES)
    museum_p = np.array([m.weight for m in MUSEUMS])
    museum_p = museum_p / museum_p.sum()
    truth: dict[str, dict] = {}
    counts = {"images": 0, "broken": 0}
    for i in tqdm(range(size), desc="demo collection", unit="artifact", file=sys.stderr, disable=not progress):
        artifact = _draw_artifact(seed, i, vocab, museum_p)
        _describe(seed, artifact, vocab)
        _photograph(seed, artifact, images_dir)
        counts["images"] += artifact.ok_images
        counts["broken"] += artifact.broken_images
        asserted = _assert_graph(doc, artifact)
        truth[DEMO_NS + "object/" + artifact.uid] = _truth_of(artifact, asserted)

    rdf_files = [vocab_file]
    for m in MUSEUMS:  # one file per museum graph, easy to inspect or load alone
        path = out_dir / f"museum-{m.name}.trig"
        doc.write(path, graphs=[MUSEUM_GRAPH.format(m.name)])
        rdf_files.append(path)

    return DemoCollection(
        rdf_files=rdf_files,
        images_dir=images_dir,
        n_artifacts=size,
        museums=[MUSEUM_GRAPH.format(m.name) for m in MUSEUMS],
        truth=truth,
        n_images=counts["images"],
        n_broken_image_refs=counts["broken"],
    )
