"""What the ``landmarker`` and ``morphkit`` commands share: the ``--help`` layout, ``--debug``, logging
to stderr and the rule of which errors are the user's (one line) and which are bugs (a traceback)."""

from __future__ import annotations

import argparse
import inspect
import logging
import sys

from morphkit.errors import DISTRIBUTION, extra_hint


class HelpFormatter(argparse.HelpFormatter):
    """Shows each option's default after its help, unless the help already names it or there is none."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if (not action.option_strings or "default" in text or action.default is None or action.default is False
                or action.default is argparse.SUPPRESS):
            return text
        return f"{text} (default: %(default)s)"


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


#: Top-level modules of the optional extras (pyproject ``[project.optional-dependencies]``) -> extra.
OPTIONAL_MODULES = {"torch": "train", "torchvision": "train", "safetensors": "train", "onnx": "train",
                    "fastapi": "serve", "uvicorn": "serve", "multipart": "serve", "python_multipart": "serve",
                    "distributed": "dask", "face_recognition_models": "bench"}


def add_debug_option(parser: argparse.ArgumentParser, subparsers) -> None:
    """``--debug`` before or after the command: show the traceback of an error instead of one line."""
    text = "on an error, show the full traceback instead of one line (for bug reports)"
    parser.add_argument("--debug", action="store_true", help=text)
    for sub in subparsers.choices.values():  # SUPPRESS: a sub-command's default must not undo `cmd --debug sub`
        sub.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=text)


def user_error_line(err: BaseException) -> str | None:
    """The one line a command prints for ``err`` when it is the user's to fix, else None (a bug: re-raise).

    The user's: a :class:`morphkit.errors.UserError`, an ``OSError`` (a path that is missing,
    unreadable or unwritable, a full disk), or a missing module of an optional extra
    (:data:`OPTIONAL_MODULES`, with the install command).
    """
    from morphkit.errors import UserError

    if isinstance(err, ModuleNotFoundError) and (err.name or "").split(".")[0] in OPTIONAL_MODULES:
        extra = OPTIONAL_MODULES[err.name.split(".")[0]]
        return f"{err} ({extra_hint(extra)})"
    if isinstance(err, (UserError, OSError)):
        return str(err)
    return None


class _StderrHandler(logging.Handler):
    """Writes each record to the ``sys.stderr`` of the moment (a test's capture, a redirected stream)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
        except Exception:  # noqa: BLE001 - logging's own rule: a failing handler must not break the program
            self.handleError(record)


def configure_logging(level: int = logging.INFO) -> None:
    """Show the library's log records (``landmarker``, ``jobs``, ``morphkit``) on stderr, one plain line each.

    The command-line tools call this; the library itself only logs, so a program that
    imports it keeps its own logging setup.
    """
    for name in ("landmarker", "jobs", "morphkit"):
        logger = logging.getLogger(name)
        logger.setLevel(level)
        if not any(isinstance(h, _StderrHandler) for h in logger.handlers):
            handler = _StderrHandler()
            handler.setFormatter(logging.Formatter("%(message)s"))
            logger.addHandler(handler)
        logger.propagate = False


def run_command(name: str, call, debug: bool, interrupted: str = "interrupted") -> int:
    """Run one command's ``call()`` with the CLIs' rules: its exit code; ``130`` and one line
    (``name: interrupted``) on Ctrl-C; ``2`` and one line for a user's error
    (:func:`user_error_line`); any other exception, or any with ``debug``, raised (a traceback).
    """
    try:
        return call()
    except KeyboardInterrupt:
        print(f"{name}: {interrupted}", file=sys.stderr)
        return 130
    except Exception as err:
        line = user_error_line(err)
        if line is None or debug:  # a bug in our code, or asked for: the traceback
            raise
        print(f"{name}: error: {line}", file=sys.stderr)
        return 2


def default(definition, name: str):
    """The default of parameter ``name`` of ``definition`` (a function, or a dataclass's fields): where
    each command option's default is written once (``morphkit`` reads the job functions, ``landmarker
    train`` :class:`landmarker.training.config.TrainConfig` and ``Augment``).

    Raises:
        TypeError: ``definition`` has no parameter ``name`` with a default.
    """
    parameter = inspect.signature(definition).parameters.get(name)
    if parameter is None or parameter.default is inspect.Parameter.empty:
        raise TypeError(f"{definition.__qualname__}() has no parameter {name!r} with a default")
    return parameter.default
