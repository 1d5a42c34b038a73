"""Issue 19 in a real browser (Debian's chromium through Playwright, as test_review_browser.py): the
defects that were in the page (each a regression test), undo with the keyboard, evidence and the
enlarged photograph, a phone's width, bulk acceptance undone as one step, progress and export."""

from __future__ import annotations

import re
import shutil
import tempfile
import time

import pytest
import requests
from test_review_app import Served
from test_review_browser import ARGS, CHROMIUM, _playwright, demo  # noqa: F401  (fixture)

DEMO_VOC = "https://w3id.org/kgenrich/demo/vocabulary/"
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d")


@pytest.fixture(scope="module")
def site(demo):  # noqa: F811
    store, settings, users, _ = demo
    served = Served(store, settings, users)
    yield served
    served.stop()


@pytest.fixture(scope="module")
def browser(site):
    sync_playwright = _playwright()
    profile = tempfile.mkdtemp(prefix="kgenrich-chromium-")
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(profile, executable_path=CHROMIUM, args=ARGS, headless=True,
                                                       viewport={"width": 1200, "height": 800})
        context.set_default_timeout(20_000)
        yield context
        context.close()
    shutil.rmtree(profile, ignore_errors=True)


def logged_in(browser, site, path="/queue"):
    page = browser.new_page()
    page.goto(site.url + path)
    if "/login" in page.url:
        page.fill("input[name=username]", "alice")
        page.fill("input[name=password]", "alice-password")
        page.click("button[type=submit]")
        page.wait_for_url(re.compile(re.escape(path.split("?")[0])))
    return page


def api(site, name):
    s = requests.Session()
    s.auth = (name, f"{name}-password")
    token = s.get(site.url + "/api/session").json()["csrf_token"]
    s.headers["X-CSRF-Token"] = token
    return s


def recorded(site, statement):
    return site.app.state.review.reader.state([statement])[statement]


def poll(condition, timeout: float = 15.0) -> None:
    """Wait until ``condition()`` is true (checked every 0.1 s); fail after ``timeout`` seconds."""
    import time

    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, "the page never got there"
        time.sleep(0.1)


def test_enter_chooses_from_the_results_of_the_text_as_typed(browser, site):
    """Defects 1 and 2: type 'si', pause, type 'lver', press Enter at once: silver thread is recorded
    (not silk, the first result for 'si'), and the confirmation names silver thread."""
    reader = site.app.state.review.reader
    real = reader.search

    def slow(task, text, limit=20):
        if text.strip().lower().startswith("silv"):
            time.sleep(1.0)  # the results of the full text arrive late
        return real(task, text, limit)

    reader.search = slow
    try:
        page = logged_in(browser, site, "/queue?task=material")
        row = page.locator("li.item:not(.done)", has=page.locator(".value", has_text="animal fibre")).first
        statement = row.get_attribute("data-statement")
        row.locator("button.correct").click()
        search = row.locator(".search")
        search.type("si")
        row.locator(".results button.choice", has_text="silk").first.wait_for()
        search.type("lver")
        search.press("Enter")
        assert "waiting for the results for 'silver'" in row.locator(".search-state").inner_text()
        page.wait_for_selector(f'li.item.done[data-statement="{statement}"]')
        state = recorded(site, statement)
        assert state["decision"] == "corrected" and state["chosen"] == DEMO_VOC + "silver_thread"
        status = page.inner_text("#status")
        assert "corrected to silver thread (the prediction was animal fibre)" in status
        assert "corrected to silver thread" in page.inner_text(f'li.item[data-statement="{statement}"]')
    finally:
        reader.search = real
        page.close()


def test_a_row_someone_else_decided_is_marked_in_words(browser, site):
    """Defect 5: the row offers nothing stale, says who decided when, and the count is refreshed."""
    page = logged_in(browser, site, "/queue?task=time")
    first = page.get_attribute("li.item.current", "data-statement")
    count = int(re.sub(r"\D", "", page.inner_text("#summary-count")))
    assert api(site, "bob").post(site.url + "/api/reviews", json={"statement": first, "decision": "rejected"}
                                 ).status_code == 201
    page.keyboard.press("a")
    page.wait_for_selector(f'li.item.done[data-statement="{first}"]')
    row = page.inner_text(f'li.item[data-statement="{first}"]')
    assert "rejected by bob just now" in row and not TIMESTAMP.search(row)
    status = page.inner_text("#status")
    assert "rejected by bob" in status and not TIMESTAMP.search(status)
    poll(lambda: page.inner_text("#summary-count").startswith(str(count - 1)))
    assert recorded(site, first)["reviewer"] == "bob"
    page.close()


def test_back_shows_decided_rows_as_decided(browser, site):
    """Defect 5: after Back, a row decided meanwhile no longer offers accept/reject."""
    page = logged_in(browser, site, "/queue?task=depiction")
    statement = page.get_attribute("li.item.current", "data-statement")
    count = page.inner_text("#summary-count")
    page.keyboard.press("r")
    page.wait_for_selector(f'li.item.done[data-statement="{statement}"]')
    page.click(f'li.item[data-statement="{statement}"] a.artifact')
    page.wait_for_selector("h1")
    page.go_back()
    page.wait_for_selector("#summary-count")
    # the page is not a stale copy (no-store, and rows are checked when a page is shown again):
    # the row is gone from the pending list or marked decided, and the count is the new one
    poll(lambda: page.inner_text("#summary-count") != count)
    assert page.locator(f'li.item[data-statement="{statement}"] button.accept').count() == 0
    page.close()


def test_undo_with_the_keyboard(browser, site):
    page = logged_in(browser, site, "/queue?task=place")
    statement = page.get_attribute("li.item.current", "data-statement")
    page.keyboard.press("a")
    page.wait_for_selector(f'li.item.done[data-statement="{statement}"] button.undo')
    page.click(f'li.item[data-statement="{statement}"]')
    page.keyboard.press("u")
    page.wait_for_selector(f'li.item:not(.done)[data-statement="{statement}"] button.accept')
    assert "undone" in page.inner_text("#status")
    assert recorded(site, statement)["decision"] == "undone"
    page.close()


def test_evidence_and_the_enlarged_photograph(browser, site):
    page = logged_in(browser, site, "/queue")
    assert page.locator("li.item .description").count() > 0
    assert page.locator("li.item button.thumb img").count() > 0
    # (thumbnails load lazily: the ones on screen; a missing image file stays blank)
    # (polled from here: wait_for_function evaluates a string in the page, which its CSP forbids)
    poll(lambda: page.eval_on_selector_all("li.item button.thumb img",
                                           "imgs => imgs.some(i => i.complete && i.naturalWidth > 0)"))
    widths = page.eval_on_selector_all("li.item button.thumb img",
                                       "imgs => imgs.map(i => i.complete ? i.naturalWidth : 0)")
    n = next(i for i, w in enumerate(widths) if w > 0)
    page.locator("li.item button.thumb").nth(n).click()
    page.wait_for_selector("dialog#enlarged[open]")
    poll(lambda: page.eval_on_selector("dialog#enlarged img", "i => i.complete && i.naturalWidth > 0"))
    # the enlarged copy (1,024 px at most; the demo's photographs are 64 px, never blown up)
    assert "size=large" in page.get_attribute("dialog#enlarged img", "src")
    assert page.eval_on_selector("dialog#enlarged img", "i => i.naturalWidth") >= widths[n]
    page.keyboard.press("Escape")
    page.close()


def test_a_phone_is_390_px_wide(browser, site):
    """Defect 7: no page wider than the screen, buttons a finger can hit."""
    page = logged_in(browser, site, "/queue")
    page.set_viewport_size({"width": 390, "height": 844})
    for path in ("/queue", "/queue?status=decided", "/stats",
                 "/artifacts/" + requests.utils.quote(site.app.state.review.reader.queue(limit=1)["items"][0]["artifact"],
                                                      safe="")):
        page.goto(site.url + path)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, (path, width)
        heights = page.eval_on_selector_all(
            "button", "bs => bs.filter(b => b.offsetParent !== null).map(b => b.getBoundingClientRect().height)")
        assert heights and min(heights) >= 44, (path, min(heights))
    page.close()


def test_the_predicted_list_follows_the_task_and_bulk_accept_undoes_in_one_step(browser, site):
    page = logged_in(browser, site, "/queue")
    page.select_option("#task-filter", "place")
    visible = page.eval_on_selector_all("#value-filter optgroup", "gs => gs.filter(g => !g.hidden).map(g => g.label)")
    assert visible == ["place"]
    page.goto(site.url + "/bulk?task=place&min_pct=50")
    expected = int(page.get_attribute("#bulk-confirm input[name=expected]", "value"))
    page.click("#bulk-confirm button[type=submit]")
    page.wait_for_selector("#bulk-undo")
    word = "prediction" if expected == 1 else "predictions"
    assert f"accepted {expected} {word}" in page.inner_text("#status") and "task=place" in page.url
    page.click("#bulk-undo button")
    page.wait_for_selector("#status.ok")
    assert f"undone: {expected} acceptance" in page.inner_text("#status")
    page.close()


def test_progress_page_and_export(browser, site):
    item = site.app.state.review.reader.queue(limit=1)["items"][0]
    assert api(site, "bob").post(site.url + "/api/reviews", json={"statement": item["statement"],
                                                                  "decision": "rejected"}).status_code == 201
    page = logged_in(browser, site, "/stats")
    assert "pending" in page.inner_text("#totals") and page.locator("#by-reviewer tr").count() >= 2
    href = page.get_attribute("#export-csv", "href")
    r = page.request.get(site.url + href)
    assert r.status == 200 and r.text().startswith("review,time,reviewer,decision")
    page.close()
