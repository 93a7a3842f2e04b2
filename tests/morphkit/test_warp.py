"""morphkit: Delaunay triangulation and the piecewise-affine warp."""


import cv2
import numpy as np
import pytest
from helpers import TESTS_DATA, dlib_faces
from PIL import Image

from morphkit import (
    CanonicalFrame,
    WarpTarget,
    align_face,
    border_points,
    piecewise_affine_warp,
    signed_areas,
    triangulate,
    with_border,
)

DATA = TESTS_DATA / "dlib-faces"




@pytest.fixture(scope="module")
def aligned_face():
    path, lm = max(dlib_faces("testing_with_face_landmarks.xml"),
                   key=lambda f: np.ptp(f[1][:, 0]))  # the largest face
    image = np.asarray(Image.open(path).convert("RGB"))
    return align_face(image, lm, CanonicalFrame())


def _perturbed(points: np.ndarray, rng, sigma: float) -> np.ndarray:
    out = points.astype(np.float64).copy()
    out[:68] += rng.normal(0, sigma, (68, 2))
    return out


def test_border_points_are_corners_and_edge_midpoints():
    b = border_points(450, 550)
    assert b.shape == (8, 2) and b.dtype == np.float32
    assert {tuple(p) for p in b} == {(0, 0), (224.5, 0), (449, 0), (449, 274.5), (449, 549),
                                      (224.5, 549), (0, 549), (0, 274.5)}


def test_delaunay_triangles_tile_the_frame(aligned_face):
    _, lm = aligned_face
    pts = with_border(lm, 450, 550)
    tri = triangulate(pts)
    assert tri.dtype == np.int32 and tri.ndim == 2 and tri.shape[1] == 3
    assert set(np.unique(tri)) == set(range(76))  # every landmark and border point is a vertex
    area = signed_areas(pts, tri)
    assert np.all(area > 0)  # consistently oriented, no degenerate triangles
    assert area.sum() == pytest.approx(449 * 549, rel=1e-9)  # frame spans pixel centres 0..W-1, 0..H-1


def test_every_output_pixel_lies_in_its_own_triangle(aligned_face):
    _, lm = aligned_face
    pts = with_border(lm, 450, 550)
    tri = triangulate(pts)
    target = WarpTarget(pts, tri, 450, 550)
    assert target.labels.shape == (550, 450) and target.labels.min() >= 0
    # Each pixel's signed distance (pixels) to the edges of the triangle it was assigned to:
    # rasterisation may claim pixels within a pixel outside a triangle (shared edges go to
    # one of the two triangles), never more, so no pixel takes its transform from afar.
    ys, xs = np.mgrid[0:550, 0:450].astype(np.float64)
    v = pts[tri][target.labels]  # (H, W, 3, 2)
    dist = []
    for i in range(3):
        p, q, r = v[..., i, :], v[..., (i + 1) % 3, :], v[..., (i + 2) % 3, :]
        edge = q - p
        cross = edge[..., 0] * (ys - p[..., 1]) - edge[..., 1] * (xs - p[..., 0])
        side = np.sign(edge[..., 0] * (r[..., 1] - p[..., 1]) - edge[..., 1] * (r[..., 0] - p[..., 0]))
        dist.append(cross * side / np.hypot(edge[..., 0], edge[..., 1]))
    outside = -np.min(dist, axis=0)
    assert outside.max() < 1.0
    assert (outside <= 1e-9).mean() > 0.95


def test_identity_warp_returns_the_image(aligned_face):
    image, lm = aligned_face
    pts = with_border(lm, 450, 550)
    out = piecewise_affine_warp(image, pts, pts)
    assert out.shape == image.shape and out.dtype == np.uint8
    diff = np.abs(out.astype(int) - image.astype(int))
    assert diff.max() <= 1


def test_constant_image_stays_constant_under_random_warp():
    rng = np.random.default_rng(7)
    frame = CanonicalFrame()
    lm = rng.uniform([80, 120], [370, 480], (68, 2))
    src = with_border(lm, 450, 550)
    dst = _perturbed(src, rng, 25.0)
    image = np.full((550, 450, 3), (37, 200, 91), np.uint8)
    for triangles in (None, triangulate(src)):  # Delaunay of target, and a folded mesh
        out = piecewise_affine_warp(image, src, dst, triangles=triangles, size=frame.size)
        assert out.shape == (550, 450, 3)
        assert np.all(out == np.array((37, 200, 91), np.uint8))


def test_global_affine_through_triangles_is_seamless():
    """When src and dst differ by one affine map, every triangle's affine is that map, so the
    piecewise warp must equal one cv2.warpAffine: any seam, hole or doubled pixel shows."""
    rng = np.random.default_rng(3)
    image = cv2.GaussianBlur(rng.integers(0, 256, (300, 260, 3), dtype=np.uint8), (0, 0), 1.5)
    m = np.array([[0.9, -0.15, 20.0], [0.12, 1.05, -8.0]])
    dst = np.concatenate([rng.uniform([10, 10], [250, 290], (40, 2)), border_points(260, 300)])
    src = cv2.invertAffineTransform(m)
    src_pts = dst @ src[:, :2].T + src[:, 2]
    out = piecewise_affine_warp(image, src_pts, dst)
    ref = cv2.warpAffine(image, m, (260, 300), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    diff = np.abs(out.astype(int) - ref.astype(int))[2:-2, 2:-2]
    assert diff.max() <= 2 and diff.mean() < 0.05


def test_warp_moves_a_marked_point_to_its_target():
    image = np.zeros((200, 200, 3), np.uint8)
    src = with_border(np.array([[60.0, 60.0], [140.0, 60.0], [100.0, 140.0]]), 200, 200)
    cv2.circle(image, (60, 60), 3, (255, 255, 255), -1)
    dst = src.copy()
    dst[0] = (80.0, 50.0)
    out = piecewise_affine_warp(image, src, dst)
    ys, xs = np.nonzero(out[..., 0] > 128)
    assert abs(xs.mean() - 80) < 1.0 and abs(ys.mean() - 50) < 1.0


def test_bad_inputs_raise_value_error():
    image = np.zeros((50, 50, 3), np.uint8)
    pts = with_border(np.array([[10.0, 10], [40, 12], [25, 40]]), 50, 50)
    with pytest.raises(ValueError, match="points"):
        piecewise_affine_warp(image, pts, pts[:-1])
    bad = pts.copy()
    bad[1, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        piecewise_affine_warp(image, bad, pts)
    with pytest.raises(ValueError, match="uint8"):
        piecewise_affine_warp(image.astype(np.float32), pts, pts)
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        piecewise_affine_warp(image[..., 0], pts, pts)
    with pytest.raises(ValueError, match="index out of range"):
        piecewise_affine_warp(image, pts, pts, triangles=np.array([[0, 1, 99]]))
    with pytest.raises(ValueError, match=r"\(n, 2\)"):
        triangulate(np.zeros((5, 3)))
    with pytest.raises(ValueError, match="degenerate"):
        triangulate(np.array([[0.0, 0], [1, 1], [2, 2], [3, 3]]))
    with pytest.raises(ValueError, match="at least 3"):
        triangulate(np.array([[0.0, 0], [1, 1]]))
