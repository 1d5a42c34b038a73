"""The review page in a real browser: Debian's chromium driven by Playwright (never a downloaded
browser), over a small demo collection with a real (tabular + fusion) ensemble.

One scenario: log in, open the queue, accept one prediction with the keyboard, reject one,
correct one through the label search, bulk-accept a filter; then SPARQL checks that the
review and curated graphs hold exactly those decisions, the page shows them as done, and a
following sync writes no prediction for the accepted/corrected gaps and does not propose the
rejected value again.  Screenshots of the queue and the artifact view go to
$KGENRICH_SCREENSHOT_DIR when set (docs/ keeps the ones the README shows), else to tmp.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from urllib.parse import quote

import pytest
from rdflib import URIRef
from test_review_app import Served

from kgenrich import sparql
from kgenrich.config import load_settings
from kgenrich.demo.generator import generate
from kgenrich.demo.run import demo_task_definitions
from kgenrich.namespaces import CONFIG_GRAPH
from kgenrich.review.users import UsersFile
from kgenrich.store.embedded import EmbeddedStore
from kgenrich.sync import run_sync

CHROMIUM = os.environ.get("KGENRICH_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TOML = """
seed = 1
[models]
modalities = ["tabular"]
folds = 2
n_jobs = 1
[models.tabular]
num_boost_round = 20
[models.fusion]
num_boost_round = 30
[review]
page_size = 200
"""
# A label (Spanish, to search "in any language") of a concept in each demo material group.
OTHER_MATERIAL = {"animal_fibre": "seda", "vegetal_fibre": "lino", "metal_thread": "hilo de oro"}


def _playwright():
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"chromium is not installed at {CHROMIUM} (.ci/install-chromium.sh installs Debian's)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (pip install -e '.[test]')")
    return sync_playwright


_BUILT: dict[str, Path] = {}


def built_demo(tmp_path_factory) -> Path:
    """One small demo collection, synced with a real ensemble, per test session (the browser and
    HTTP tests of the review page each work on a copy of it)."""
    if "dir" not in _BUILT:
        work = tmp_path_factory.mktemp("review-demo-built")
        generated = generate(work / "data", size=150, seed=1, progress=False)
        store = EmbeddedStore(work / "store")
        for path in generated.rdf_files:
            store.load_file(path)
        store.load_bytes(demo_task_definitions(150), "ntriples", graph=CONFIG_GRAPH)
        (work / "kgenrich.toml").write_text(TOML)
        settings = load_settings(environ={}, cwd=work)
        settings.store = str(work / "store")
        settings.models_dir = str(work / "models")
        settings.sections["sync"] = {"report_dir": str(work / "reports")}
        run_sync(store, settings, progress=False)
        store.close()
        _BUILT["dir"] = work
    return _BUILT["dir"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    built = built_demo(tmp_path_factory)
    work = tmp_path_factory.mktemp("review-demo")
    shutil.copytree(built / "store", work / "store")
    shutil.copytree(built / "models", work / "models")
    (work / "kgenrich.toml").write_text(TOML)
    settings = load_settings(environ={}, cwd=work)
    settings.store = str(work / "store")
    settings.models_dir = str(work / "models")
    settings.sections["sync"] = {"report_dir": str(work / "reports")}
    settings.sections["review"].update({"users_file": str(work / "users.json"), "secret_file": str(work / "secret"),
                                        "thumbnail_dir": str(work / "thumbnails")})
    store = EmbeddedStore(work / "store")
    users = UsersFile(work / "users.json")
    users.add("alice", "alice-password")
    users.add("bob", "bob-password")
    users.add("ada", "ada-password", role="admin")
    yield store, settings, users, work
    store.close()


def _screenshot(page, path: Path, full_page: bool = False) -> None:
    """A PNG with a 64-colour palette: the page's flat colours survive, the file stays small."""
    from PIL import Image

    page.screenshot(path=str(path), full_page=full_page)
    with Image.open(path) as img:
        small = img.convert("RGB").quantize(colors=64)
    small.save(path, optimize=True)


def _decisions(store, graph) -> dict[str, tuple[str, str | None]]:
    rows = store.select(sparql.bind(
        "PREFIX kgr: <https://w3id.org/kgenrich/review#> SELECT ?st ?d ?v WHERE { GRAPH $g { "
        "?r kgr:reviewed ?st ; kgr:decision ?d . OPTIONAL { ?r kgr:chosenValue ?v } } }", {"g": graph}))
    return {str(r["st"]): (str(r["d"]).rsplit("#", 1)[-1], str(r["v"]) if r.get("v") is not None else None)
            for r in rows}


def test_review_in_a_browser_then_sync(demo):
    sync_playwright = _playwright()
    store, settings, users, work = demo
    served = Served(store, settings, users)
    shots = Path(os.environ.get("KGENRICH_SCREENSHOT_DIR") or work / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    profile = tempfile.mkdtemp(prefix="kgenrich-chromium-")
    graphs = served.app.state.review.reader.graphs
    labels = served.app.state.review.reader.collection().labels
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch_persistent_context(profile, executable_path=CHROMIUM, args=ARGS,
                                                           headless=True, viewport={"width": 1200, "height": 760})
            page = browser.new_page()
            page.set_default_timeout(20_000)
            # log in (the queue sends an anonymous visitor to the login page and back)
            page.goto(served.url + "/queue")
            assert "/login" in page.url
            page.fill("input[name=username]", "alice")
            page.fill("input[name=password]", "alice-password")
            page.click("button[type=submit]")
            page.wait_for_selector("li.item.current")
            assert page.url.endswith("/queue")

            # accept the least confident prediction with the keyboard, reject the next one
            first = page.get_attribute("li.item.current", "data-statement")
            page.keyboard.press("a")
            page.wait_for_selector(f'li.item.done[data-statement="{first}"]')
            second = page.get_attribute("li.item.current", "data-statement")
            assert second != first
            page.keyboard.press("r")
            page.wait_for_selector(f'li.item.done[data-statement="{second}"]')
            assert "rejected" in page.inner_text(f'li.item[data-statement="{second}"] .state')
            _screenshot(page, shots / "review-queue.png")

            # correct a material prediction through the label search (a Spanish label)
            page.goto(served.url + "/queue?task=material")
            page.wait_for_selector("li.item.current")
            third = page.get_attribute("li.item.current", "data-statement")
            proposed = page.get_attribute("li.item.current", "data-value")
            group = next(g.id for g in labels["material"].groups if g.concept == proposed)
            target_group = next(g for g in labels["material"].groups if g.id != group and g.id in OTHER_MATERIAL)
            page.keyboard.press("c")
            page.keyboard.type(OTHER_MATERIAL[target_group.id])
            choice = page.wait_for_selector("li.item.current .results button.choice")
            assert target_group.label in choice.inner_text()
            corrected_to = choice.get_attribute("title")
            page.keyboard.press("Enter")
            page.wait_for_selector(f'li.item.done[data-statement="{third}"]')
            assert "corrected" in page.inner_text(f'li.item[data-statement="{third}"] .state')

            # the artifact view: images, texts, values, predictions and what each modality said
            page.click(f'li.item[data-statement="{third}"] a.artifact')
            page.wait_for_selector("table.scores")
            # thumbnails are made by the server from the local image files (a missing file stays blank)
            widths = page.eval_on_selector_all("section.images img", "imgs => Promise.all(imgs.map(i => "
                                               "i.decode().then(() => i.naturalWidth, () => 0)))")
            assert not widths or max(widths) > 0
            with_image = next(i for i in served.app.state.review.reader.queue(limit=50)["items"]
                              if any(Path(loc.removeprefix("file://")).is_file()
                                     for loc in served.app.state.review.reader.image_locations(i["artifact"])[:1]))
            thumb = page.request.get(f"{served.url}/thumbnails/0?artifact={quote(with_image['artifact'], safe='')}")
            assert thumb.status == 200 and thumb.headers["content-type"] == "image/jpeg" and len(thumb.body()) > 500
            # in a curator's words: "metadata", not "tabular"; "combined", not "fused"
            heads = page.inner_text("table.scores thead")
            assert "metadata" in heads and "combined" in heads and "tabular" not in heads and "fus" not in heads
            _screenshot(page, shots / "review-artifact.png", full_page=True)

            # bulk-accept a filter: count, confirm
            page.goto(served.url + "/bulk?task=place&min=0.5")
            expected = int(page.get_attribute("#bulk-confirm input[name=expected]", "value"))
            assert expected > 0 and f"{expected}" in page.inner_text("#bulk-count")
            page.click("#bulk-confirm button[type=submit]")
            page.wait_for_selector("#status.ok")
            assert f"accepted {expected} predictions" in page.inner_text("#status")

            # the page shows them as done
            page.goto(served.url + "/queue?status=decided")
            done = page.eval_on_selector_all("li.item.done", "els => els.map(e => e.dataset.statement)")
            browser.close()
    finally:
        served.stop()
        shutil.rmtree(profile, ignore_errors=True)

    # exactly those decisions in the review graph, exactly the accepted/corrected values in the curated graph
    decisions = _decisions(store, graphs.reviews)
    assert len(decisions) == 3 + expected and set(done) == set(decisions)
    live = {str(r["st"]): r for r in store.select(sparql.bind(
        "PREFIX rdf: <http://www.w3.org/1999/02/22-rdf-syntax-ns#> SELECT ?st ?s ?p ?o WHERE { GRAPH $g { "
        "?st a rdf:Statement ; rdf:subject ?s ; rdf:predicate ?p ; rdf:object ?o } }", {"g": graphs.predictions}))}
    assert decisions[first] == ("accepted", str(live[first]["o"]))
    assert decisions[second] == ("rejected", None)
    assert decisions[third] == ("corrected", corrected_to)
    bulk = [st for st in decisions if st not in (first, second, third)]
    assert all(decisions[st][0] == "accepted" and str(live[st]["p"]).endswith("P8_took_place_on_or_within")
               for st in bulk)
    curated = set(store.graph_triples(graphs.curated))
    properties = {URIRef(t.property) for t in served.app.state.review.reader.collection().tasks}
    expected_values = {(live[st]["s"], live[st]["p"], URIRef(v)) for st, (d, v) in decisions.items() if v}
    assert {t for t in curated if t[1] in properties} == expected_values
    derived = {o for s, p, o in curated if p == URIRef("http://www.w3.org/ns/prov#wasDerivedFrom")}
    assert derived == {URIRef(st) for st, (d, _) in decisions.items() if d != "rejected"}

    # the next sync learns from them
    report = run_sync(store, settings, progress=False)
    assert report.wrote
    after = {(str(r["s"]), str(r["p"]), str(r["o"])) for r in store.select(sparql.bind(
        "PREFIX rdf: <http://www.w3.org/1999/02/22-rdf-syntax-ns#> SELECT ?s ?p ?o WHERE { GRAPH $g { "
        "?st a rdf:Statement ; rdf:subject ?s ; rdf:predicate ?p ; rdf:object ?o } }", {"g": graphs.predictions}))}
    units = {(s, p) for s, p, _ in after}
    for st, (decision, _) in decisions.items():
        unit = (str(live[st]["s"]), str(live[st]["p"]))
        if decision in ("accepted", "corrected"):
            assert unit not in units, f"a {decision} gap was predicted again"
        else:
            assert (*unit, str(live[st]["o"])) not in after, "a rejected value was proposed again"
    assert _decisions(store, graphs.reviews) == decisions  # the sync kept every decision
