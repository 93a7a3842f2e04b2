"""Face detectors: the default HOG+Haar finds faces HOG misses and no false ones; huge photos."""

import inspect
import tracemalloc

import cv2
import numpy as np
import pytest
from helpers import TESTS_DATA

from landmarker.inference.detect import (
    DEFAULT_DETECTOR,
    DETECTORS,
    Downscaled,
    HaarDetector,
    HogDetector,
    HogHaarDetector,
    haar_to_hog_box,
    make_detector,
)
from landmarker.inference.predictor import Landmarker
from landmarker.io.datasets import load_ytf68
from landmarker.io.decode import read_image
from landmarker.io.face import box_iou
from landmarker.model.crop import box_from_landmarks

DATA = TESTS_DATA


@pytest.fixture(scope="module")
def auto():
    return make_detector("hog+haar")


@pytest.fixture(scope="module")
def hog():
    return make_detector("hog")


def test_default_is_hog_plus_haar_everywhere():
    assert DEFAULT_DETECTOR == "hog+haar" and set(DETECTORS) >= {"hog+haar", "hog", "haar"}
    assert isinstance(make_detector().detector, HogHaarDetector)
    assert isinstance(make_detector("hog").detector, HogDetector)
    assert isinstance(make_detector("haar").detector, HaarDetector)
    assert inspect.signature(Landmarker.__init__).parameters["detector"].default == "hog+haar"
    from landmarker.cli import build_parser

    assert build_parser().parse_args(["predict", "x.jpg", "--out", "o.csv"]).detector == "hog+haar"
    with pytest.raises(ValueError, match="unknown detector 'cnn'"):
        make_detector("cnn")


def test_no_face_on_dogs_where_haar_alone_finds_some(auto, data_dir):
    dogs = read_image(data_dir / "dlib-faces" / "dogs.jpg")
    assert len(HaarDetector()(dogs)) > 0  # the cascade alone takes dogs for faces
    assert auto(dogs) == []
    assert auto(np.ascontiguousarray(dogs[:, ::-1])) == []


def _noise_and_blank():
    rng = np.random.default_rng(1)
    images = []
    for i in range(6):
        img = rng.integers(0, 256, (300 + 20 * i, 400, 3), dtype=np.uint8)
        if i % 2:
            img = cv2.normalize(cv2.GaussianBlur(img, (0, 0), 1 + i), None, 0, 255, cv2.NORM_MINMAX)
        images.append(img)
    y, x = np.mgrid[0:320, 0:480].astype(np.float32)
    images.append(np.full((320, 480, 3), 128, np.uint8))
    images.append(np.zeros((700, 900, 3), np.uint8))
    images.append(np.dstack([x / 480 * 255, y / 320 * 255, np.full_like(x, 90)]).astype(np.uint8))
    r = np.hypot(x - 240, y - 160)
    images.append(np.repeat((r / r.max() * 255).astype(np.uint8)[..., None], 3, 2))
    return images


def test_no_face_on_noise_or_blank_images(auto):
    for i, img in enumerate(_noise_and_blank()):
        assert auto(img) == [], i


def test_portraits_give_hogs_box(auto, hog, data_dir):
    for path in sorted((data_dir / "portraits").glob("*.jpg")):
        image = read_image(path)
        faces = auto(image)
        assert len(faces) == 1, path
        assert faces[0] == hog(image)[0]  # where HOG is sure, the default is HOG


def test_group_photo_keeps_every_hog_face(auto, hog, data_dir):
    image = read_image(data_dir / "dlib-faces" / "2008_002470.jpg")
    found = auto(image)
    assert all(d in found for d in hog(image))
    areas = [d.area for d in found]
    assert areas == sorted(areas, reverse=True)


def test_finds_faces_hog_misses(auto, hog, data_dir):
    samples = load_ytf68(data_dir / "ytf68-hard")
    assert len(samples) == 2
    for s in samples:
        image = read_image(s.image_path)
        truth = box_from_landmarks(s.landmarks)
        assert not any(box_iou(d.box, truth) > 0.3 for d in hog(image)), s.image_path
        faces = auto(image)
        assert len(faces) == 1, s.image_path
        assert box_iou(faces[0].box, truth) > 0.5, s.image_path
        assert faces[0].score < 0  # a fallback face scores below HOG's threshold


def test_haar_box_is_mapped_to_hog_geometry():
    l, t, r, b = haar_to_hog_box((100.0, 200.0, 200.0, 300.0))
    assert r - l == pytest.approx(90.0) and b - t == pytest.approx(90.0)
    assert (l + r) / 2 == pytest.approx(150.0) and (t + b) / 2 == pytest.approx(256.5)


# ---- huge photos ---------------------------------------------------------------------------

K = 20  # 225 x 275 portrait -> 4500 x 5500 = 24.75 MP


@pytest.fixture(scope="module")
def portrait():
    return read_image(DATA / "portraits" / "A000360.jpg")


def test_small_images_are_searched_as_they_are(portrait):
    seen = []
    Downscaled(lambda im: seen.append(im) or [])(portrait)
    assert seen[0] is portrait


def test_huge_photo_is_searched_small_and_boxes_map_back(portrait, hog):
    big = cv2.resize(portrait, None, fx=K, fy=K, interpolation=cv2.INTER_NEAREST)
    assert big.shape[0] * big.shape[1] > 24_000_000
    seen = []

    def spy(image):
        seen.append(image.shape)
        return hog(image)

    # area-averaging K x K blocks of a nearest-neighbour upscale gives back the portrait exactly
    found = Downscaled(spy, search_side=max(portrait.shape[:2]))(big)
    assert seen == [portrait.shape]
    expected = [np.array(d.box) * K for d in hog(portrait)]
    assert len(found) == len(expected) == 1
    np.testing.assert_allclose(found[0].box, expected[0], atol=1e-6)
    # the default searches at a 2400-px long side
    seen.clear()
    found = Downscaled(spy)(big)
    assert max(seen[0][:2]) == 2400 and len(found) == 1
    assert box_iou(np.array(found[0].box) / K, hog(portrait)[0].box) > 0.5


def test_huge_photo_landmarks_from_full_resolution(portrait):
    model = Landmarker(detector=make_detector(search_side=max(portrait.shape[:2])))
    small = model.predict(portrait)[0]
    big = cv2.resize(portrait, None, fx=K, fy=K, interpolation=cv2.INTER_CUBIC)
    tracemalloc.start()
    try:
        faces = model.predict(big)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(faces) == 1
    side = small.box[2] - small.box[0]
    # pixel centres: x_small = (x_big + 0.5) / K - 0.5
    err = np.linalg.norm((faces[0].landmarks + 0.5) / K - 0.5 - small.landmarks, axis=1) / side
    assert err.mean() < 0.08 and err.max() < 0.25, (err.mean(), err.max())
    # one full-size gray copy (H*W bytes) and small ones: no extra full-size RGB or gray copy
    assert peak < 1.5 * big.shape[0] * big.shape[1], peak / 1e6


def test_small_faces_in_a_1080p_group_photo_are_found(auto, data_dir):
    """A 1920x1080 photo with a 50 px face: found by the default, as by dlib's HOG upsampled once."""
    big = read_image(data_dir / "portraits" / "A000360.jpg")
    small = read_image(data_dir / "portraits" / "S000033.jpg")
    canvas = np.empty((1080, 1920, 3), np.uint8)
    canvas[:] = np.linspace(70, 190, 1920)[None, :, None].astype(np.uint8)
    places = []
    for image, h, x, y in ((big, 800, 100, 140), (small, 100, 1500, 600)):
        w = round(image.shape[1] * h / image.shape[0])
        canvas[y : y + h, x : x + w] = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
        places.append((x, y, x + w, y + h))
    native = HogDetector(upsample=0)(canvas)
    assert not any(_inside(d.box, places[1]) for d in native)  # at native size HOG misses the small face
    for detector in (auto, make_detector("hog")):  # images up to 1920x1200 are searched upsampled once
        found = detector(canvas)
        assert len(found) == 2
        assert _inside(found[0].box, places[0]) and _inside(found[1].box, places[1])


def _inside(box, region) -> bool:
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    return region[0] <= cx <= region[2] and region[1] <= cy <= region[3]


@pytest.mark.parametrize("name", ["hog+haar", "hog"])
def test_portraits_are_searched_once_at_native_size_other_photos_also_upsampled(name, portrait, monkeypatch):
    """The cheap pass first: a portrait (face >= 10% of the image) needs no upsampled search."""
    calls = []
    run = HogDetector.run

    def spy(self, image, upsample=None, threshold=None):
        calls.append(upsample)
        return run(self, image, upsample, threshold)

    monkeypatch.setattr(HogDetector, "run", spy)
    detector = make_detector(name)
    faces = detector(portrait)  # 225 x 275 headshot
    assert calls == [0] and len(faces) == 1
    calls.clear()
    small = cv2.resize(portrait, (150, 183), interpolation=cv2.INTER_AREA)  # side under 200 px: upsampled at once
    assert len(detector(small)) == 1 and calls == [1]
    calls.clear()
    canvas = np.full((600, 900, 3), 128, np.uint8)  # the same face on a wide background: under 10% of it
    canvas[100:375, 300:525] = portrait
    found = detector(canvas)
    assert calls == [0, 1] and len(found) == 1
    assert box_iou(found[0].box, [b + o for b, o in zip(faces[0].box, (300, 100, 300, 100))]) > 0.6


def test_detectors_order_faces_by_the_box_area_inside_the_photo():
    from landmarker.inference.detect import Detection, by_visible_area

    cut, whole = Detection((-400.0, 0.0, 20.0, 250.0), 1.0), Detection((80.0, 90.0, 200.0, 210.0), 1.0)
    assert cut.area > whole.area  # the whole box is larger, its visible part (20 x 250) is not
    assert by_visible_area([cut, whole], (275, 225, 3)) == [whole, cut]


def test_the_frontal_detector_is_saved_once_and_loaded_after_and_a_damaged_file_rebuilt(tmp_path, monkeypatch):
    import dlib

    from landmarker.inference import detect

    monkeypatch.setenv("MORPHKIT_CACHE_DIR", str(tmp_path))
    built = []
    real = dlib.get_frontal_face_detector
    monkeypatch.setattr(dlib, "get_frontal_face_detector", lambda: built.append(1) or real())
    image = read_image(DATA / "portraits" / "A000360.jpg")
    want = HogDetector(upsample=0, threshold=-0.5).run(image)
    saved = tmp_path / "dlib" / f"frontal_face_detector-dlib-{dlib.__version__}.svm"
    for content, builds in ((None, 1), ("kept", 1), (b"not a detector", 2)):
        if isinstance(content, bytes):
            saved.write_bytes(content)
        monkeypatch.setattr(detect, "_FRONTAL", None)  # a new process
        got = HogDetector(upsample=0, threshold=-0.5).run(image)
        assert [(d.box, round(d.score, 6)) for d in got] == [(d.box, round(d.score, 6)) for d in want]
        assert len(built) == builds and saved.stat().st_size > 100_000
