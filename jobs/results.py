"""What each job returns: one frozen dataclass per job (the ``morphkit`` command prints its summary line).

Counts are numbers of files (or faces, where said); ``seconds`` is the job's wall-clock time from its
start to its return, rounded to 0.1 s; paths are strings as the job wrote them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BulkLabelResult:
    """The summary of :func:`jobs.bulk_label.bulk_label`, counted over the whole ``report.csv`` (the files
    an earlier run labelled included).

    Attributes:
        files: files reported (``ok + no_face + error``).
        ok: files with one face or more.
        no_face: files that decoded but where no face was found.
        error: files that could not be read (the report's message says why).
        faces: faces found, over every ``ok`` file.
        resumed: files already done by an earlier run in the same ``out`` (0 for a fresh run).
        seconds: wall-clock seconds of this run (labelling and writing), rounded to 0.1.
        xml: path of the ``landmarks.xml`` written (``fmt="dlib-xml"``, or one kept in step), else None.
        overlays_added: overlays drawn for files an earlier run labelled without ``overlay`` (0 if none).
        dropped: faces this run left out for scoring under ``min_score`` (0 if none).
    """

    files: int
    ok: int
    no_face: int
    error: int
    faces: int
    resumed: int
    seconds: float
    xml: str | None = None
    overlays_added: int = 0
    dropped: int = 0


@dataclass(frozen=True)
class TeamMeansResult:
    """The summary of :func:`jobs.team_means.team_means`.

    Attributes:
        images: images of the collection (each one a row of ``report.csv``).
        used: images whose face went into a mean.
        skipped: images that did not (``images - used``; ``report.csv`` says why).
        groups: group name -> faces in its mean, for each group that got a mean, in the order of the
            comparison grid.
        files: group name -> the file name of its mean (``<group>.png``, in the output folder).
        seconds: wall-clock seconds of the job, rounded to 0.1.
        frame: the means' size and why (``--width/--height``, or chosen from the faces).
    """

    images: int
    used: int
    skipped: int
    groups: dict[str, int]
    files: dict[str, str]
    seconds: float
    frame: str = ""


@dataclass(frozen=True)
class MorphMovieResult:
    """The summary of :func:`jobs.morph_movie.morph_movie`.

    Attributes:
        faces: faces in the movie (a file given twice counts twice).
        skipped: images left out (no face, unreadable; the report says why).
        frames: frames written.
        seconds: wall-clock seconds of the job, rounded to 0.1.
        path: the movie file written (``out`` as given).
        frame: the frame size and why (``--width/--height``, or chosen from the faces).
    """

    faces: int
    skipped: int
    frames: int
    seconds: float
    path: str
    frame: str = ""


@dataclass(frozen=True)
class ToolResult:
    """The summary of :func:`jobs.face_tools.run_tool`.

    Attributes:
        written: images written (for ``continuum``: one per step; ``strip.png`` is not counted).
        skipped: inputs skipped (missing, unreadable, no face; ``report.csv`` says why).
        seconds: wall-clock seconds of the job, rounded to 0.1.
    """

    written: int
    skipped: int
    seconds: float


@dataclass(frozen=True)
class ExportResult:
    """The summary of :func:`jobs.export.export`.

    Attributes:
        faces: faces exported (every face of the run's ``landmarks.csv``: rejected ones are not).
        files: label files written (one per face for ``tem`` and ``pts``, else 1).
        reviewed: faces among them that a person corrected or confirmed in ``morphkit review``.
        seconds: wall-clock seconds of the job, rounded to 0.1.
        path: the output folder (``tem``, ``pts``) or the file written.
    """

    faces: int
    files: int
    reviewed: int
    seconds: float
    path: str
