"""morphkit: face alignment, Delaunay triangulation, piecewise-affine warps, morphs,
mean faces, caricatures and morph movies - on arrays.

Images are uint8 ``(H, W, 3)`` RGB arrays; landmarks are float32 ``(68, 2)`` ``(x, y)``
pixel coordinates in iBUG 300-W order (``(n, 68, 2)`` for many faces). morphkit reads no
image files and needs no deep-learning or detector packages: give it arrays (or zero-argument
callables that return them) from any landmark source.

Modules: :mod:`.frame` (canonical frame, border points), :mod:`.align` (similarity
alignment), :mod:`.procrustes` (Procrustes fit, mean shape), :mod:`.triangulation`
(Delaunay), :mod:`.warp` (piecewise-affine warp), :mod:`.morph` (two-face morph,
caricature), :mod:`.mean` (mean face), :mod:`.sequence` (morph movie frames),
:mod:`.video` (MP4/GIF writer), :mod:`.grid` (labelled image grid), :mod:`.parallel`
(deterministic chunked joblib map).
"""

from .align import align_face, align_landmarks, similarity_to_frame, transform_points
from .frame import CanonicalFrame, border_points, with_border
from .grid import image_grid
from .ibug68 import eye_centres
from .mean import MeanFace, composite_on_background, face_mask, mean_face
from .morph import Morpher, caricature, morph_pair, morph_triangles
from .procrustes import exaggerate, fit_similarity, mean_shape
from .sequence import morph_sequence_frames, morph_sequence_length, sequence_timing
from .triangulation import signed_areas, triangulate
from .video import write_video
from .warp import WarpTarget, piecewise_affine_warp

__all__ = [
    "CanonicalFrame", "MeanFace", "Morpher", "WarpTarget",
    "align_face", "align_landmarks", "border_points", "caricature", "composite_on_background",
    "exaggerate", "eye_centres", "face_mask", "fit_similarity", "image_grid", "mean_face",
    "mean_shape", "morph_pair", "morph_sequence_frames", "morph_sequence_length", "morph_triangles",
    "piecewise_affine_warp", "sequence_timing", "signed_areas", "similarity_to_frame",
    "transform_points", "triangulate", "with_border", "write_video",
]
