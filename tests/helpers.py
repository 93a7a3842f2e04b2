"""Shared test helpers (pytest puts tests/ on sys.path: conftest.py lives there)."""

from pathlib import Path

from landmarker.io.datasets import load_dlib_xml

REPO_ROOT = Path(__file__).resolve().parents[1]
TESTS_DATA = REPO_ROOT / "tests" / "data"
DLIB_FACES = TESTS_DATA / "dlib-faces"


def dlib_faces(xml_name: str):
    """``(image path, float32 (68, 2) landmarks)`` for each labelled face of a dlib/iBUG XML in tests/data."""
    return [(s.image_path, s.landmarks) for s in load_dlib_xml(DLIB_FACES / xml_name)]


def mirrored_groups(root: Path, groups=("a", "b"), prefix: bool = False) -> Path:
    """A collection of two sub-folder groups: the test portraits, and (second group) their mirror images.

    With ``prefix`` every file name starts with its group (``b-A000360.jpg``). Returns ``root``.
    """
    from PIL import Image

    for i, group in enumerate(groups):
        (root / group).mkdir(parents=True)
        for p in sorted((DLIB_FACES.parent / "portraits").glob("*.jpg")):
            image = Image.open(p)
            if i == 1:
                image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
            image.save(root / group / (f"{group}-{p.name}" if prefix else p.name))
    return root


def label_run(archive, out, **kwargs):
    """``jobs.bulk_label.bulk_label(archive, out)`` as the review tests run it: one thread, ``--flip-average``
    (fit scores), no progress bar; ``kwargs`` (``restart=True``) passed on. Returns its result."""
    from jobs.bulk_label import bulk_label
    from landmarker.inference.labelling import ModelSpec

    return bulk_label(archive, out, n_jobs=1, spec=ModelSpec(flip_average=True), progress=False, **kwargs)


def labelled_once(tmp_path_factory, archive) -> Path:
    """A :func:`label_run` of ``archive`` in a fresh temporary folder: a module-scoped fixture's run, made
    once and copied for each test by :func:`copy_run`. Returns the run's folder."""
    out = tmp_path_factory.mktemp("run") / "run"
    label_run(archive, out)
    return out


def copy_run(labelled: Path, tmp_path: Path) -> Path:
    """A copy of the run ``labelled`` for one test (``tmp_path/run``; the archive stays where it is)."""
    import shutil

    return Path(shutil.copytree(labelled, tmp_path / "run"))


def red_dots(image, points, radius):
    """``image`` (RGB uint8) with a pure red disc of ``radius`` px (anti-aliased, sub-pixel centre) at each
    ``(x, y)`` point: marks whose place in a warped image :func:`red_centroids` finds."""
    import cv2

    out = image.copy()
    for x, y in points:
        cv2.circle(out, (round(x * 16), round(y * 16)), round(radius * 16), (255, 0, 0), -1, cv2.LINE_AA, shift=4)
    return out


def red_centroids(image):
    """float64 ``(2, 2)``: the redness-weighted centroids ``(x, y)`` of the two reddest blobs of ``image``
    (RGB or RGBA uint8), left first."""
    import cv2
    import numpy as np

    rgb = image[..., :3].astype(np.float64)
    red = np.clip(rgb[..., 0] - np.maximum(rgb[..., 1], rgb[..., 2]) - 100, 0, None)
    n, labels = cv2.connectedComponents((red > 0).astype(np.uint8))
    blobs = sorted(range(1, n), key=lambda i: -red[labels == i].sum())[:2]
    ys, xs = np.mgrid[: image.shape[0], : image.shape[1]]
    centres = [(np.sum(xs * red * (labels == i)), np.sum(ys * red * (labels == i))) / red[labels == i].sum()
               for i in blobs]
    return np.array(sorted(centres, key=lambda c: c[0]))
