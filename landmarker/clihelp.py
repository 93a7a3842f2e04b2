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
