"""The review page in real headless Chromium (Playwright driving the system's browser, no download):
the grid renders worst fit first, a face opens, a dragged point is saved and lands in landmarks.csv.

``REVIEW_SCREENSHOT=docs/review_editor.png`` also writes the README's picture of the editor."""

import contextlib
import os
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
from helpers import REPO_ROOT

from jobs.bulk_label import bulk_label
from landmarker.inference.labelling import ModelSpec
from landmarker.io.landmarks_csv import iter_records

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = [pytest.mark.browser, pytest.mark.slow,
              pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed (Debian package "
                                 "'chromium')")]


@contextlib.contextmanager
def _page(url: str):
    """A headless Chromium page at ``url`` with the grid loaded; yields ``(page, errors)`` (the page's JS errors)."""
    from playwright import sync_api

    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 860})
            errors = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(url)
            page.wait_for_selector(".card")
            yield page, errors
        finally:
            browser.close()


def _rows(run: Path) -> dict:
    return {r.image: r for r in iter_records(run / "landmarks.csv")}


@pytest.fixture
def server(tmp_path):
    """A bulk-label --flip-average run of sample_data served by ``morphkit review`` in a thread: its URL."""
    pytest.importorskip("fastapi", reason="morphkit review needs the serve extra")
    uvicorn = pytest.importorskip("uvicorn", reason="morphkit review needs the serve extra")
    from jobs.review.server import create_app
    from jobs.review.store import ReviewStore
    from landmarker.serve import listen_socket

    run = tmp_path / "run"
    bulk_label(REPO_ROOT / "sample_data" / "images", run, n_jobs=1, spec=ModelSpec(flip_average=True),
               progress=False)
    with ReviewStore(run) as store:
        sock = listen_socket("127.0.0.1", 0)
        sock.listen(16)
        srv = uvicorn.Server(uvicorn.Config(create_app(store), log_level="warning"))
        thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{sock.getsockname()[1]}/", run
        finally:
            srv.should_exit = True
            thread.join(timeout=30)
            sock.close()


def test_drag_a_point_save_and_see_it_in_landmarks_csv(server):
    pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed "
                        "(pip install playwright; no browser download needed)")
    url, run = server
    before = _rows(run)
    with _page(url) as (page, errors):
        assert page.locator(".card").count() == 30
        first = page.locator(".card").first
        fits = [float(t.split()[1].rstrip("%")) for t in page.locator(".card .fit").all_inner_texts()]
        assert fits == sorted(fits, reverse=True)  # worst fit first
        page.wait_for_function("document.querySelector('.card img').complete "
                               "&& document.querySelector('.card img').naturalWidth > 0")
        page.fill("#search", "no such name")
        assert page.locator(".card").count() == 0
        page.fill("#search", "")

        image = first.locator("img").get_attribute("alt")
        first.click()
        page.wait_for_selector("body[data-ready='1']")
        assert page.locator("#points circle").count() == 68
        page.hover("#points circle[data-i='36']")
        assert "left eye, outer corner" in page.inner_text("#status")
        if os.environ.get("REVIEW_SCREENSHOT"):
            page.screenshot(path=os.environ["REVIEW_SCREENSHOT"])

        scale = page.evaluate("document.getElementById('canvas').getScreenCTM().a")  # screen px per image px
        box = page.locator("#points circle[data-i='30']").bounding_box()
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        page.mouse.move(x, y)
        page.mouse.down()
        page.mouse.move(x + 24, y + 12, steps=6)
        page.mouse.up()
        eye = page.locator("#points circle[data-i='42']").bounding_box()  # Shift+drag: the whole right eye
        ex, ey = eye["x"] + eye["width"] / 2, eye["y"] + eye["height"] / 2
        page.keyboard.down("Shift")
        page.mouse.move(ex, ey)
        page.mouse.down()
        page.mouse.move(ex - 10, ey, steps=4)
        page.mouse.up()
        page.keyboard.up("Shift")
        page.keyboard.press("Control+z")  # undo the eye, keep the nose tip
        page.keyboard.press("Control+y")  # redo it
        page.keyboard.press("Control+z")
        shown = np.asarray(page.evaluate("state.pts"))
        page.select_option("#mirrorgroup", "left eye")
        page.click("#mirror")  # the left eye from the right one, mirrored about the face's axis
        mirrored = np.asarray(page.evaluate("state.pts"))
        changed = np.flatnonzero(np.abs(mirrored - shown).max(axis=1) > 1e-9)
        assert set(changed) <= set(range(36, 42)) and len(changed) >= 4
        iod = np.linalg.norm(shown[36] - shown[45])
        assert np.linalg.norm(mirrored[36:42] - shown[36:42], axis=1).mean() < 0.1 * iod  # a near-symmetric face
        page.keyboard.press("Control+z")
        np.testing.assert_array_equal(np.asarray(page.evaluate("state.pts")), shown)
        page.keyboard.press("s")
        page.wait_for_selector("body[data-saves='1']")
        assert "saved" in page.inner_text("#status")
        page.keyboard.press("n")  # the next face
        page.wait_for_function(f"!document.getElementById('title').textContent.startsWith({image!r})")
        assert not errors, errors
    after = _rows(run)
    moved = after[image].face.landmarks - before[image].face.landmarks
    assert after[image].reviewed and sum(r.reviewed for r in after.values()) == 1
    np.testing.assert_allclose(moved[30], (24 / scale, 12 / scale), atol=0.6 / scale + 0.02)
    np.testing.assert_allclose(np.delete(moved, 30, axis=0), 0, atol=0.011)  # the eye's move was undone


def test_reject_restore_and_add_a_face_by_drawing_a_box(server):
    pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    url, run = server
    with _page(url) as (page, errors):
        first = page.locator(".card").first
        gone = first.locator("img").get_attribute("alt")
        first.click()
        page.wait_for_selector("body[data-ready='1']")
        page.click("#reject")  # "not a face"
        page.wait_for_selector("body[data-rejects='1']")
        assert gone not in _rows(run) and len(_rows(run)) == 29
        page.wait_for_function(f"!document.getElementById('title').textContent.startsWith({gone!r})")

        page.keyboard.press("Escape")  # the list: the rejected face is listed only under "rejected only"
        page.wait_for_selector("#list:not([hidden])")
        assert page.locator(".card").count() == 29
        page.check("#showrejected")
        assert page.locator(".card").count() == 1
        page.click(".card .restore")
        page.wait_for_selector("body[data-rejects='2']")
        assert gone in _rows(run) and len(_rows(run)) == 30
        page.uncheck("#showrejected")
        page.wait_for_function("document.querySelectorAll('.card').length === 30")

        host = page.locator(".card").nth(1)
        image = host.locator("img").get_attribute("alt")
        host.click()
        page.wait_for_selector("body[data-ready='1']")
        page.keyboard.press("a")  # add a face: drag a box on the photo (here around the same face, moved)
        box = page.locator("#facebox").bounding_box()
        page.mouse.move(box["x"] + 10, box["y"] + 10)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] - 5, box["y"] + box["height"] - 5, steps=5)
        page.mouse.up()
        page.wait_for_selector("body[data-added='1']")
        page.wait_for_function(f"document.getElementById('title').textContent.startsWith({image + ' face 1'!r})")
        page.wait_for_selector("body[data-ready='1']")
        assert page.locator("#points circle").count() == 68
        page.keyboard.press("s")  # corrected (as proposed) and saved
        page.wait_for_selector("body[data-saves='1']")
        assert not errors, errors
    faces = [r for r in iter_records(run / "landmarks.csv") if r.image == image]
    assert len(faces) == 2 and faces[1].reviewed and np.isnan(faces[1].face.score)
