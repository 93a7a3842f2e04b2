"""morphkit: face alignment, Delaunay triangulation, piecewise-affine warps, morphs,
mean faces, caricatures and morph movies - on arrays.

Images are uint8 ``(H, W, 3)`` RGB arrays; landmarks are float32 ``(68, 2)`` ``(x, y)``
pixel coordinates in iBUG 300-W order (``(n, 68, 2)`` for many faces). morphkit reads no
image files and needs no deep-learning or detector packages: give it arrays (or zero-argument
callables that return them) from any landmark source.

Modules: :mod:`.frame` (canonical frame, border points), :mod:`.align` (similarity
alignment), :mod:`.procrustes` (Procrustes fit, mean shape), :mod:`.triangulation`
(Delaunay), :mod:`.warp` (piecewise-affine warp), :mod:`.morph` (two-face morph),
:mod:`.research` (caricature, transform, symmetrising, continua), :mod:`.masks` (face
masks, compositing), :mod:`.mean` (mean face), :mod:`.sequence` (morph movie frames),
:mod:`.video` (MP4/GIF writer), :mod:`.grid` (labelled image grid), :mod:`.parallel`
(deterministic chunked map), :mod:`.ibug68` (the 68-point scheme), :mod:`.errors`.
"""

import importlib

#: public name -> the module that defines it; imported on first use (PEP 562), so that
#: ``import morphkit.ibug68`` or ``morphkit.errors`` (what the landmarker uses) stays light.
_EXPORTS = {
    "align_face": "align",
    "align_landmarks": "align",
    "ffhq_quad": "align",
    "similarity_to_eyes": "align",
    "similarity_to_ffhq": "align",
    "similarity_to_shape": "align",
    "warp_face": "align",
    "similarity_to_frame": "align",
    "transform_points": "align",
    "CanonicalFrame": "frame",
    "border_points": "frame",
    "with_border": "frame",
    "image_grid": "grid",
    "eye_centres": "ibug68",
    "MeanFace": "mean",
    "composite_on_background": "masks",
    "face_mask": "masks",
    "face_region": "masks",
    "apply_mask": "masks",
    "mean_face": "mean",
    "Morpher": "morph",
    "caricature": "research",
    "morph_pair": "morph",
    "morph_triangles": "morph",
    "exaggerate": "procrustes",
    "fit_similarity": "procrustes",
    "mean_shape": "procrustes",
    "morph_sequence_frames": "sequence",
    "morph_sequence_length": "sequence",
    "sequence_timing": "sequence",
    "signed_areas": "triangulation",
    "triangulate": "triangulation",
    "write_video": "video",
    "WarpTarget": "warp",
    "piecewise_affine_warp": "warp",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))

