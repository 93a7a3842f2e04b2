"""The project's error classes: what the user can fix, as opposed to bugs.

Every error that morphkit, the landmarker and the jobs raise about their input (a bad
argument, a file that is not an image, a malformed dataset or manifest, a missing
optional package) derives from :class:`UserError`. The command-line tools catch
:class:`UserError` (and ``OSError`` on the user's paths) and print one line; anything
else is a bug in our code and surfaces with its traceback. Batch jobs record a
:class:`UserError` against the file it concerns and go on.
"""

from __future__ import annotations

#: The name pip installs this project under (import packages: landmarker, morphkit, jobs).
DISTRIBUTION = "morphkit-faces"


def extra_hint(extra: str) -> str:
    """How to install an optional extra, e.g. ``pip install 'morphkit-faces[train]'`` (``'.[train]'`` in a clone)."""
    return f"pip install '{DISTRIBUTION}[{extra}]' (in a clone of the repository: pip install '.[{extra}]')"


class UserError(Exception):
    """Base of every error the user can fix; the message names the file or value and the problem."""


class InvalidInput(UserError, ValueError):
    """An argument, file or setting that breaks a documented contract (also a ``ValueError``)."""


class MissingDependency(UserError, ImportError):
    """An optional package a feature needs is not installed; the message says which extra to install."""
