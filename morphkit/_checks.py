"""Input checks shared by the morphkit modules.

Every public function validates its arrays here so that bad input fails early with a
``ValueError`` that names the argument and the problem, instead of an obscure OpenCV
or NumPy error deep inside a warp.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .errors import InvalidInput

N_LANDMARKS = 68

#: An image, or a zero-argument picklable callable that returns one when called
#: (e.g. ``functools.partial(read_image, path)``), so collections can be streamed.
ImageSource = np.ndarray | Callable[[], np.ndarray]


def check_image(image: Any, name: str = "image") -> np.ndarray:
    """Return ``image`` as a C-contiguous uint8 ``(H, W, 3)`` array, or raise ``ValueError``."""
    if not isinstance(image, np.ndarray):
        raise InvalidInput(f"{name} must be a numpy array, got {type(image).__name__}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise InvalidInput(f"{name} must have shape (H, W, 3) (RGB), got {image.shape}")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise InvalidInput(f"{name} is empty: shape {image.shape}")
    if image.dtype != np.uint8:
        raise InvalidInput(f"{name} must have dtype uint8, got {image.dtype}")
    return np.ascontiguousarray(image)


def check_points(points: Any, name: str = "points", n: int | None = None, dtype=np.float64) -> np.ndarray:
    """Return a finite ``(k, 2)`` point array (``k == n`` when ``n`` is given) as ``dtype``."""
    try:
        arr = np.asarray(points, dtype=dtype)
    except (TypeError, ValueError) as err:
        raise InvalidInput(f"{name} must be a numeric array of (x, y) points ({err})") from err
    want = f"({n}, 2)" if n is not None else "(n, 2)"
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise InvalidInput(f"{name} must have shape {want} of (x, y) points, got {arr.shape}")
    if n is not None and arr.shape[0] != n:
        raise InvalidInput(f"{name} must have shape {want}: {n} points, got {arr.shape[0]}")
    if not np.all(np.isfinite(arr)):
        bad = int(np.count_nonzero(~np.isfinite(arr).all(axis=1)))
        raise InvalidInput(f"{name} has {bad} point(s) with NaN or infinite coordinates")
    return arr


def check_landmarks(landmarks: Any, name: str = "landmarks", dtype=np.float64) -> np.ndarray:
    """Return one face's 68 landmarks as a finite ``(68, 2)`` array, or raise ``ValueError``."""
    return check_points(landmarks, name, N_LANDMARKS, dtype)


def check_landmark_stack(landmarks: Any, name: str = "landmarks", dtype=np.float64) -> np.ndarray:
    """Return many faces' landmarks as a finite ``(n, 68, 2)`` array with ``n >= 1``."""
    try:
        arr = np.asarray(landmarks, dtype=dtype)
    except (TypeError, ValueError) as err:
        raise InvalidInput(f"{name} must be a numeric (n, 68, 2) array ({err})") from err
    if arr.ndim != 3 or arr.shape[1:] != (N_LANDMARKS, 2):
        raise InvalidInput(f"{name} must have shape (n, 68, 2), got {arr.shape}")
    if arr.shape[0] == 0:
        raise InvalidInput(f"{name} is empty: no faces given")
    finite = np.isfinite(arr).all(axis=(1, 2))
    if not finite.all():
        bad = np.flatnonzero(~finite)
        raise InvalidInput(
            f"{name} has NaN or infinite coordinates for {bad.size} face(s), first at index {int(bad[0])}"
        )
    return arr


def check_fraction(value: Any, name: str) -> float:
    """A finite float in ``[0, 1]``."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"{name} must be a number in [0, 1], got {value!r}") from None
    if not (0.0 <= v <= 1.0):
        raise InvalidInput(f"{name} must be in [0, 1], got {v}")
    return v


def check_positive(value: Any, name: str) -> float:
    """A finite float ``> 0``."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"{name} must be a positive number, got {value!r}") from None
    if not (np.isfinite(v) and v > 0):
        raise InvalidInput(f"{name} must be a positive finite number, got {value!r}")
    return v


def check_n_jobs(n_jobs: Any) -> int:
    """joblib's ``n_jobs``: a non-zero int (``-1`` means all cores)."""
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, (int, np.integer)) or n_jobs == 0:
        raise InvalidInput(f"n_jobs must be a non-zero integer (-1 = all cores), got {n_jobs!r}")
    return int(n_jobs)


def load_image(source: ImageSource, index: int | None = None) -> np.ndarray:
    """Resolve an :data:`ImageSource`: an array is checked and returned; a callable is
    called (with no arguments) and its result checked.

    Raises:
        ValueError: the item is neither, or the callable returned something that is not
            a uint8 ``(H, W, 3)`` image.
    """
    name = "image" if index is None else f"images[{index}]"
    if isinstance(source, np.ndarray):
        return check_image(source, name)
    if callable(source):
        return check_image(source(), f"{name} (returned by {_callable_name(source)})")
    raise InvalidInput(
        f"{name} must be a uint8 (H, W, 3) array or a zero-argument callable returning one, "
        f"got {type(source).__name__}"
    )


def check_sources(images: Any, n_faces: int) -> list:
    """A sequence of :data:`ImageSource` items matching ``n_faces`` landmark sets."""
    if isinstance(images, np.ndarray) and images.ndim == 3:
        raise InvalidInput("images must be a sequence of images, got a single (H, W, 3) array")
    try:
        items = list(images)
    except TypeError:
        raise InvalidInput(f"images must be a sequence of arrays or callables, got {type(images).__name__}") from None
    if len(items) != n_faces:
        raise InvalidInput(f"got {len(items)} images but {n_faces} landmark sets; counts must match")
    for i, item in enumerate(items):
        if not (isinstance(item, np.ndarray) or callable(item)):
            raise InvalidInput(
                f"images[{i}] must be a uint8 (H, W, 3) array or a zero-argument callable, "
                f"got {type(item).__name__}"
            )
        if isinstance(item, np.ndarray):
            check_image(item, f"images[{i}]")
    return items


def _callable_name(fn: Any) -> str:
    func = getattr(fn, "func", fn)  # functools.partial
    name = getattr(func, "__qualname__", None) or type(func).__name__
    args = getattr(fn, "args", ())
    return f"{name}({', '.join(map(repr, args))})" if args else name
