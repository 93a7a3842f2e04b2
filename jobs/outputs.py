"""All of a job's outputs or none: what a run has written is removed when it is interrupted.

Each file is already written all or nothing (:mod:`landmarker.io.atomic`), but a job
writes several (means, ``report.csv``, ``shapes.csv``, the HTML report, a movie):
Ctrl-C between two of them would leave a half folder that looks like a result.
:class:`RunOutputs` records each output before it is written and, when the run is
interrupted (KeyboardInterrupt), removes those written so far, and the output folder
itself when the run made it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path


class RunOutputs:
    """The outputs of one run; a context manager that removes them on KeyboardInterrupt.

    Args:
        folder: the run's output folder, when it writes one: removed whole on
            interrupt if this run made it (it did not exist before).
    """

    def __init__(self, folder: str | os.PathLike | None = None):
        self.folder = Path(folder) if folder is not None else None
        self.made_folder = self.folder is not None and not self.folder.exists()
        self.paths: list[Path] = []

    def add(self, path: str | os.PathLike) -> Path:
        """Record ``path`` (a file, or a folder of this run's own files) as an output; returns it."""
        self.paths.append(Path(path))
        return Path(path)

    def __enter__(self) -> RunOutputs:
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is not None and issubclass(exc_type, KeyboardInterrupt):
            if self.made_folder:
                shutil.rmtree(self.folder, ignore_errors=True)
            for p in self.paths:
                if p.is_dir() and not p.is_symlink():
                    shutil.rmtree(p, ignore_errors=True)
                else:
                    p.unlink(missing_ok=True)
        return False
