"""Writing dlib/iBUG XML: the layout of ``labels_ibug_300W_train.xml`` that dlib's imglab
and ``dlib.train_shape_predictor`` read, and :func:`landmarker.io.datasets.load_dlib_xml` loads.

::

    <dataset><name>..</name><comment>..</comment><images>
      <image file='relative/path.jpg'>
        <box top='90' left='194' width='37' height='37'>
          <part name='00' x='201' y='107'/> ... <part name='67' .../>
        </box>
      </image> ...
    </images></dataset>

dlib stores every coordinate as an integer (``dlib::rectangle`` and ``dlib::point``
hold ``long``; see ``save_image_dataset_metadata`` in dlib's
``data_io/image_dataset_metadata.cpp``), so coordinates are rounded to the nearest
pixel: a round trip moves each point by at most 0.5 px. A box ``(left, top, right,
bottom)`` is written as ``left, top, width = right - left, height = bottom - top``
after rounding; dlib reads it as the inclusive rectangle ``left .. left + width - 1``,
:func:`~landmarker.io.datasets.load_dlib_xml` as ``(left, top, left + width, top + height)``.

File names: the ``file`` attribute is double-quoted, so names with ``'`` read the
same in dlib and in standard XML parsers. dlib's own XML parser does not decode
entities, so a name holding ``&``, ``<`` or ``"`` (written as ``&amp;`` ... to keep
the file valid XML) loads in Python's parsers but not in dlib's tools. Names are
written as UTF-8 (dlib passes the bytes to the file system unchanged).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from xml.sax.saxutils import escape

import numpy as np

from morphkit.errors import InvalidInput

# characters XML 1.0 forbids anywhere (C0 controls except tab, newline, carriage return)
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_ATTR = {'"': "&quot;", "\n": "&#10;", "\r": "&#13;", "\t": "&#9;"}


def xml_safe(text: str) -> bool:
    """True when ``text`` can be stored in an XML 1.0 attribute as UTF-8.

    False for control characters and for file names that are not valid UTF-8 (on
    POSIX such names reach Python as lone surrogates).
    """
    if _NOT_XML.search(text):
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _attr(text: str) -> str:
    return escape(text, _ATTR)


def _box_xml(file: str, box: Sequence[float], landmarks: np.ndarray) -> str:
    pts = np.asarray(landmarks, dtype=np.float64)
    if pts.shape != (68, 2):
        raise InvalidInput(f"{file}: landmarks must have shape (68, 2), got {pts.shape}")
    values = np.concatenate([np.asarray(box, dtype=np.float64).reshape(4), pts.reshape(-1)])
    if not np.all(np.isfinite(values)):
        raise InvalidInput(f"{file}: box or landmarks hold NaN or infinity")
    left, top, right, bottom = (int(v) for v in np.rint(values[:4]))
    ints = np.rint(pts).astype(np.int64)
    lines = [f"    <box top='{top}' left='{left}' width='{right - left}' height='{bottom - top}'>\n"]
    lines += [f"      <part name='{i:02d}' x='{x}' y='{y}'/>\n" for i, (x, y) in enumerate(ints.tolist())]
    lines.append("    </box>\n")
    return "".join(lines)


def write_dlib_xml(
    path: str | os.PathLike,
    images: Iterable[tuple[str, Sequence[tuple[Sequence[float], np.ndarray]]]],
    name: str = "landmarker",
    comment: str = "",
) -> tuple[int, int]:
    """Write a dlib/iBUG XML file atomically, streaming (memory does not grow with the count).

    Args:
        path: the XML file to write; a temporary file beside it is renamed over it at
            the end, so readers see the old file or the whole new one, never a part.
        images: ``(file, faces)`` pairs: ``file`` is the image path as it should appear
            in the XML (relative to the XML's folder, POSIX separators); ``faces`` is a
            sequence of ``(box, landmarks)`` with ``box = (left, top, right, bottom)`` in
            pixels and ``landmarks`` float ``(68, 2)`` ``(x, y)`` pixels, iBUG order.
        name, comment: the dataset's ``<name>`` and ``<comment>``.

    Returns:
        ``(images written, boxes written)``.

    Raises:
        ValueError: a file name that XML cannot hold (see :func:`xml_safe`), landmarks
            that are not ``(68, 2)``, or non-finite coordinates; the message names the
            file. Nothing is written then.
        OSError: the file cannot be written.
    """
    from landmarker.io.atomic import atomic_write

    n_images = n_boxes = 0
    with atomic_write(path, newline="\n") as fh:
        fh.write("<?xml version='1.0' encoding='UTF-8'?>\n<dataset>\n")
        fh.write(f"<name>{escape(name)}</name>\n<comment>{escape(comment)}</comment>\n<images>\n")
        for file, faces in images:
            if not xml_safe(file):
                raise InvalidInput(f"{file!r}: file name cannot be stored in XML")
            fh.write(f'  <image file="{_attr(file)}">\n')
            for box, landmarks in faces:
                fh.write(_box_xml(file, box, landmarks))
                n_boxes += 1
            fh.write("  </image>\n")
            n_images += 1
        fh.write("</images>\n</dataset>\n")
    return n_images, n_boxes
