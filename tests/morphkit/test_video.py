"""morphkit: morph sequences, MP4/GIF writing and the labelled grid."""

from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
from helpers import TESTS_DATA, dlib_faces
from PIL import Image

from morphkit import (
    CanonicalFrame,
    align_face,
    image_grid,
    morph_sequence_frames,
    morph_sequence_length,
    write_video,
)

DATA = TESTS_DATA / "dlib-faces"
ODD = CanonicalFrame(width=121, height=151)  # odd on purpose: MP4 needs even sizes




@pytest.fixture(scope="module")
def three_faces():
    found = dlib_faces("testing_with_face_landmarks.xml")
    found.sort(key=lambda f: -np.ptp(f[1][:, 0]))
    picked = found[:3]
    return [np.asarray(Image.open(p).convert("RGB")) for p, _ in picked], np.stack([lm for _, lm in picked])


class _Loader:
    """A zero-argument image source that records when it is called."""

    def __init__(self, image, log, index):
        self.image, self.log, self.index = image, log, index

    def __call__(self):
        self.log.append(self.index)
        return self.image


def test_sequence_length_and_frames(three_faces):
    images, lms = three_faces
    # 10 fps * 0.6 s = 6 frames per face: 3 hold + 3 transition.
    assert morph_sequence_length(3, 10, 0.6, 0.5) == 3 * 3 + 2 * 3
    assert morph_sequence_length(3, 10, 0.6, 0.5, loop=True) == 3 * 6
    frames = list(morph_sequence_frames(images, lms, ODD, fps=10, seconds_per_face=0.6, transition_fraction=0.5))
    assert len(frames) == 15
    assert all(f.shape == (151, 121, 3) and f.dtype == np.uint8 for f in frames)
    a0 = align_face(images[0], lms[0], ODD)[0]
    a1 = align_face(images[1], lms[1], ODD)[0]
    assert all(np.array_equal(f, a0) for f in frames[:3])    # hold on face 0
    assert all(np.array_equal(f, a1) for f in frames[6:9])   # hold on face 1
    for f in frames[3:6]:                                     # transition 0 -> 1
        assert np.abs(f.astype(int) - a0).mean() > 1 and np.abs(f.astype(int) - a1).mean() > 1
    looped = list(morph_sequence_frames(images, lms, ODD, fps=10, seconds_per_face=0.6, loop=True))
    assert len(looped) == 18


def test_sequence_is_lazy(three_faces):
    images, lms = three_faces
    log = []
    sources = [_Loader(im, log, i) for i, im in enumerate(images)]
    gen = morph_sequence_frames(sources, lms, ODD, fps=10, seconds_per_face=0.6)
    assert log == []                      # nothing loaded before iterating
    next(gen)
    assert log == [0]                     # only the first face for its hold frames
    for _ in range(3):
        next(gen)
    assert log == [0, 1]                  # the next face only when its transition starts
    rest = list(gen)
    assert len(rest) == 11 and log == [0, 1, 2]


def test_sequence_rejects_bad_input(three_faces):
    images, lms = three_faces
    with pytest.raises(ValueError, match="counts must match"):
        morph_sequence_frames(images[:2], lms, ODD)
    with pytest.raises(ValueError, match="fps"):
        morph_sequence_frames(images, lms, ODD, fps=0)
    with pytest.raises(ValueError, match="transition_fraction"):
        morph_sequence_frames(images, lms, ODD, transition_fraction=2)
    bad = lms.copy()
    bad[1, 3, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        morph_sequence_frames(images, bad, ODD)


def test_mp4_round_trip_has_expected_frames_and_even_size(three_faces, tmp_path):
    images, lms = three_faces
    out = tmp_path / "movie.mp4"
    frames = morph_sequence_frames(images, lms, ODD, fps=10, seconds_per_face=0.6)
    assert write_video(frames, out, fps=10) == 15
    reader = imageio_ffmpeg.read_frames(str(out))
    meta = reader.__next__()
    assert tuple(meta["size"]) == (122, 152)  # padded to even
    assert meta["fps"] == pytest.approx(10)
    decoded = [np.frombuffer(b, np.uint8).reshape(152, 122, 3) for b in reader]
    assert len(decoded) == 15
    first = align_face(images[0], lms[0], ODD)[0]
    assert np.abs(decoded[0][:151, :121].astype(int) - first).mean() < 6  # lossy, but the same picture
    assert sorted(p.name for p in tmp_path.iterdir()) == ["movie.mp4"]  # no temporary left over


def test_gif_output(tmp_path):
    frames = [np.full((60, 80, 3), (i * 40, 255 - i * 40, 128), np.uint8) for i in range(6)]
    out = tmp_path / "anim.gif"
    assert write_video(iter(frames), out, fps=5) == 6
    with Image.open(out) as gif:
        assert gif.format == "GIF" and gif.size == (80, 60) and gif.n_frames == 6
    # fps above 25 is subsampled so browsers play it at the right speed.
    assert write_video(iter(frames), tmp_path / "fast.gif", fps=50) == 3


def test_failed_write_leaves_nothing_behind(tmp_path):
    def broken():
        for _ in range(3):
            yield np.zeros((40, 40, 3), np.uint8)
        raise RuntimeError("renderer crashed")

    out = tmp_path / "movie.mp4"
    out.write_bytes(b"old movie")
    with pytest.raises(RuntimeError, match="crashed"):
        write_video(broken(), out, fps=5)
    assert out.read_bytes() == b"old movie"  # the previous file is untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["movie.mp4"]


def test_write_video_rejects_bad_input(tmp_path):
    with pytest.raises(ValueError, match="no frames"):
        write_video([], tmp_path / "a.mp4", fps=5)
    with pytest.raises(ValueError, match="frame 1"):
        write_video([np.zeros((40, 40, 3), np.uint8), np.zeros((40, 42, 3), np.uint8)], tmp_path / "b.mp4", fps=5)
    with pytest.raises(ValueError, match="does not exist"):
        write_video([np.zeros((40, 40, 3), np.uint8)], tmp_path / "missing" / "c.mp4", fps=5)
    with pytest.raises(ValueError, match="fmt"):
        write_video([np.zeros((40, 40, 3), np.uint8)], tmp_path / "d.mp4", fps=5, fmt="avi")
    assert list(tmp_path.iterdir()) == []


def test_image_grid_layout_and_labels():
    tiles = [np.full((110, 90, 3), c, np.uint8) for c in (0, 100, 200)]
    grid = image_grid(tiles, ["Team A (n=12)", "Équipe B (n=3)", "C"], columns=2, tile_width=90)
    assert grid.dtype == np.uint8 and grid.ndim == 3
    assert grid.shape[1] == 2 * 90 + 3 * 12
    # Two rows of (tile + label band): the label band holds dark text pixels under each tile.
    assert grid.shape[0] > 2 * 110
    band = grid[12 + 110:12 + 110 + 20, 12:12 + 90]
    assert (band < 100).any() and (band == 255).any()
    with pytest.raises(ValueError, match="counts must match"):
        image_grid(tiles, ["a", "b"])
    with pytest.raises(ValueError, match="at least one"):
        image_grid([], [])


def test_sequence_does_not_depend_on_n_jobs(three_faces):
    images, lms = three_faces
    kw = dict(frame=ODD, fps=10, seconds_per_face=0.4, transition_fraction=0.5)
    one = list(morph_sequence_frames(images, lms, n_jobs=1, **kw))
    two = list(morph_sequence_frames(images, lms, n_jobs=2, **kw))
    assert len(one) == len(two) == morph_sequence_length(3, 10, 0.4, 0.5)
    assert all(np.array_equal(a, b) for a, b in zip(one, two))


def test_parallel_map_keeps_a_bounded_window(tmp_path):
    """Workers run at most `lookahead` tasks ahead of a slow consumer (flat memory)."""
    import time

    from morphkit.parallel import ordered_map

    paths = [tmp_path / f"{i:02d}" for i in range(20)]
    gen = ordered_map(Path.touch, paths, n_jobs=2, lookahead=3)
    next(gen)
    time.sleep(0.5)
    assert 2 <= len(list(tmp_path.iterdir())) <= 4
    assert sum(1 for _ in gen) == 19
    assert len(list(tmp_path.iterdir())) == 20


def test_parallel_map_leaves_joblib_parallel_working():
    """After morphkit's parallel map, joblib.Parallel in the same process still runs
    (loky's own reusable executor broke joblib's next call: no _temp_folder_manager)."""
    import operator

    from joblib import Parallel, delayed

    from morphkit.parallel import ordered_map

    assert list(ordered_map(abs, [-1, -2, -3], n_jobs=2)) == [1, 2, 3]
    assert Parallel(n_jobs=2)(delayed(operator.neg)(i) for i in range(4)) == [0, -1, -2, -3]
    assert list(ordered_map(abs, [-4, -5], n_jobs=2)) == [4, 5]
