"""The HTML report of team-means and morph-movie, opened in a real browser (headless Chromium)."""

import re
import shutil
import subprocess

import pytest
from helpers import mirrored_groups

from jobs.__main__ import main as jobs_main

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _collection(tmp_path, data_dir):
    coll = mirrored_groups(tmp_path / "team", ("left", "right"), prefix=True)
    (coll / "left" / "broken.jpg").write_text("not a photo")
    return coll


def _loaded(page) -> dict:
    run = subprocess.run([CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--mute-audio",
                          "--autoplay-policy=no-user-gesture-required", "--virtual-time-budget=8000",
                          "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    body = re.search(r"<body([^>]*)>", run.stdout)
    assert body, run.stderr[-2000:]
    return {k: int(v) for k, v in re.findall(r'data-([a-z-]+)="(\d+)"', body.group(1))}


def test_report_pages_link_every_output_relatively(tmp_path, data_dir):
    coll = _collection(tmp_path, data_dir)
    assert jobs_main(["team-means", str(coll), "--out", str(tmp_path / "means")]) == 0
    html = (tmp_path / "means" / "index.html").read_text()
    for src in re.findall(r'src="([^"]+)"', html):
        assert not src.startswith(("/", "file:", "http")) and (tmp_path / "means" / src).is_file(), src
    assert html.count('class="thumbs"') == 2 and "broken.jpg" in html and "not an image" in html
    moved = tmp_path / "moved"  # the folder can be moved (or zipped) and still works
    shutil.copytree(tmp_path / "means", moved)
    for src in re.findall(r'src="([^"]+)"', (moved / "index.html").read_text()):
        assert (moved / src).is_file()


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed (Debian package 'chromium'; "
                    ".ci/run installs it)")
def test_reports_load_every_image_and_the_video_in_chromium(tmp_path, data_dir):
    coll = _collection(tmp_path, data_dir)
    assert jobs_main(["team-means", str(coll), "--out", str(tmp_path / "means")]) == 0
    got = _loaded(tmp_path / "means" / "index.html")
    assert got["images-total"] >= 5 and got["images-loaded"] == got["images-total"], got
    assert jobs_main(["morph-movie", str(coll), "--out", str(tmp_path / "movie" / "team.mp4"), "--fps", "10",
                      "--seconds-per-face", "0.4"]) == 0
    got = _loaded(tmp_path / "movie" / "team.html")  # the movie's report is named after it
    assert got["videos-total"] == 1 and got["videos-loaded"] == 1, got
    assert got["images-loaded"] == got["images-total"] >= 4, got
