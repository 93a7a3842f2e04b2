"""landmarker: train, evaluate and serve a ResNet18 68-point face-landmark model.

Quick use::

    from landmarker import Landmarker, read_image
    faces = Landmarker().predict(read_image("portrait.jpg"))
    faces[0].landmarks  # float32 (68, 2), (x, y) pixels, iBUG 300-W order

Heavy modules (torch, dlib) are imported on first use of the names below.
"""

__all__ = ["Landmarker", "Face", "read_image", "ImageDecodeError"]


def __getattr__(name):
    if name in ("Landmarker", "Face"):
        from landmarker.inference import predictor

        return getattr(predictor, name)
    if name in ("read_image", "ImageDecodeError"):
        from landmarker.io import decode

        return getattr(decode, name)
    raise AttributeError(f"module 'landmarker' has no attribute {name!r}")
