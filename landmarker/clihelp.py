"""The ``--help`` layout of the ``landmarker`` and ``morphkit`` commands."""

from __future__ import annotations

import argparse


class HelpFormatter(argparse.HelpFormatter):
    """Shows each option's default after its help, unless the help already names it or there is none."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if (not action.option_strings or "default" in text or action.default in (None, False)
                or action.default is argparse.SUPPRESS):
            return text
        return f"{text} (default: %(default)s)"


DISTRIBUTION = "morphkit-faces"  # the name pip installs this project under (import packages: landmarker, morphkit, jobs)


def extra_hint(extra: str) -> str:
    """How to install an optional extra, e.g. ``pip install 'morphkit-faces[train]'`` (``'.[train]'`` in a clone)."""
    return f"pip install '{DISTRIBUTION}[{extra}]' (in a clone of the repository: pip install '.[{extra}]')"


def package_version() -> str:
    """The installed distribution's version, or ``unknown (not installed)``."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:
        return "unknown (not installed)"


def count(n: int, noun: str, plural: str | None = None) -> str:
    """``"1 face"``, ``"3 faces"``: a number with its noun in the right number."""
    return f"{n} {noun if n == 1 else (plural or noun + 's')}"
