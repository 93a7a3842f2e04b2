"""The jobs' Python API: keyword-only options, frozen result classes, and option defaults written once
(in the job functions' signatures, which the ``morphkit`` options read)."""

import argparse
import dataclasses
import inspect

import pytest

from jobs.__main__ import build_parser, default
from jobs.bulk_label import bulk_label
from jobs.collection import CollectionError
from jobs.export import export
from jobs.face_tools import DEFAULT_SHAPE, run_tool
from jobs.morph_movie import morph_movie
from jobs.results import BulkLabelResult, ExportResult, MorphMovieResult, TeamMeansResult, ToolResult
from jobs.review.server import review_command
from jobs.team_means import team_means

JOBS = {"bulk-label": bulk_label, "team-means": team_means, "morph-movie": morph_movie, "transform": run_tool,
        "caricature": run_tool, "continuum": run_tool, "symmetrize": run_tool, "review": review_command,
        "export": export, "align": run_tool}
RENAMED = {"landmarks": "landmarks_csv", "format": "fmt", "what": "sym"}  # option dest -> parameter


@pytest.mark.parametrize("func, positional", [(bulk_label, 2), (team_means, 2), (morph_movie, 2), (run_tool, 3),
                                                    (review_command, 1), (export, 2)])
def test_options_are_keyword_only(func, positional):
    kinds = [p.kind for p in inspect.signature(func).parameters.values()]
    assert kinds[:positional] == [inspect.Parameter.POSITIONAL_OR_KEYWORD] * positional
    assert set(kinds[positional:]) == {inspect.Parameter.KEYWORD_ONLY}


@pytest.mark.parametrize("cls", [BulkLabelResult, TeamMeansResult, MorphMovieResult, ToolResult, ExportResult])
def test_results_are_frozen_and_document_every_field(cls):
    assert dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen
    for field in dataclasses.fields(cls):
        assert f"{field.name}:" in cls.__doc__, (cls.__name__, field.name)


def test_every_option_default_is_the_job_functions():
    checked = 0
    for action in build_parser()._actions:
        if not isinstance(action, argparse._SubParsersAction):
            continue
        for name, sub in action.choices.items():
            func = JOBS[name]
            for act in sub._actions:
                param = RENAMED.get(act.dest, act.dest)
                if not act.option_strings or act.required or param not in inspect.signature(func).parameters:
                    continue
                if name in ("transform", "caricature") and param == "shape":
                    assert act.default == DEFAULT_SHAPE[name]
                else:
                    assert act.default == default(func, param), (name, act.dest)
                checked += 1
    assert checked > 40


def test_default_refuses_a_parameter_without_one():
    with pytest.raises(TypeError, match="collection"):
        default(team_means, "collection")


def test_run_tool_returns_a_tool_result_and_the_tools_default_shape(tmp_path, data_dir):
    face = str(data_dir / "portraits" / "A000360.jpg")
    with pytest.raises(CollectionError, match="mean"):
        run_tool("caricature", [face], str(tmp_path / "none"))
    r = run_tool("caricature", [face], tmp_path / "out", mean=face, n_jobs=1)
    assert isinstance(r, ToolResult) and (r.written, r.skipped) == (1, 0) and r.seconds >= 0
    assert (tmp_path / "out" / f"A000360-caricature-{DEFAULT_SHAPE['caricature']:g}.png").is_file()
