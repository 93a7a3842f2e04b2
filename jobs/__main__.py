"""Batch jobs over photo collections: ``morphkit <job> ...`` (or ``python -m jobs <job> ...``)."""

from __future__ import annotations

import argparse
import sys

from landmarker.clihelp import (
    HelpFormatter,
    add_debug_option,
    configure_logging,
    count,
    default,
    package_version,
    run_command,
)
from landmarker.inference.labelling import ModelSpec, add_model_options
from landmarker.inference.parallel import add_parallel_options

from .bulk_label import FORMATS, bulk_label
from .export import FORMATS as EXPORT_FORMATS
from .export import export
from .face_tools import DEFAULT_SHAPE, run_tool
from .morph_movie import morph_movie
from .review.server import review_command
from .team_means import team_means

# Each option's default is written once, in the signature of the job function it feeds
# (read here with `default`); each sub-parser's `func` maps its options to the job's arguments.


def _option(p, func, flag: str, param: str | None = None, **kwargs) -> None:
    """Add ``flag`` to ``p`` with the default of ``func``'s parameter ``param`` (default: the flag's name)."""
    p.add_argument(flag, default=default(func, param or flag.lstrip("-").replace("-", "_")), **kwargs)


def _common(p, func) -> None:
    """The model options and ``--n-jobs``/``--scheduler``, with ``func``'s default of ``n_jobs``."""
    add_model_options(p)
    add_parallel_options(p)
    p.set_defaults(n_jobs=default(func, "n_jobs"))


def _collection(p, func) -> None:
    """The options of a job over a collection (team-means, morph-movie), defaults from ``func``."""
    _option(p, func, "--manifest", help="CSV naming each image (file or stem) and its group; images it does not "
            "name are skipped and reported")
    _option(p, func, "--group-by", help="manifest column that gives the group, or several separated by commas for "
            "their cross (party,gender)")
    _option(p, func, "--landmarks", "landmarks_csv",
            help="use this landmarks.csv (from bulk-label) instead of detecting; a photo that is not the one a row was "
            "made from (its size or sha1 differs) is labelled again")
    _option(p, func, "--width", type=int, help="output width in pixels (default: chosen from the faces, so that "
            "their median eye-centre distance is kept: neither enlarged nor shrunk; one of --width/--height alone: "
            "the other in the proportions of 450 x 550)")
    _option(p, func, "--height", type=int, help="output height in pixels (default: chosen from the faces)")


def _spec(args: argparse.Namespace, labels: bool = True) -> ModelSpec:
    """The model of the options; with ``-v`` (and when the job labels faces) described on stderr."""
    spec = ModelSpec.from_args(args)
    if args.verbose and labels:
        print(spec.describe(), file=sys.stderr)
    return spec


def run_bulk_label(args: argparse.Namespace, prog: str) -> int:
    """``bulk-label``: run :func:`jobs.bulk_label.bulk_label`, print its summary line; the exit code."""
    try:
        r = bulk_label(args.archive, args.out, n_jobs=args.n_jobs, spec=_spec(args), overlay=args.overlay,
                       restart=args.restart, fmt=args.format, scheduler=args.scheduler, min_score=args.min_score,
                       overlay_side=args.overlay_size)
    except KeyboardInterrupt:
        print(f"{prog} bulk-label: interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    resumed = f" ({r.resumed} done by an earlier run)" if r.resumed else ""
    xml = f", {args.out}/landmarks.xml" if r.xml else ""
    dropped = f", {count(r.dropped, 'face')} under --min-score dropped" if r.dropped else ""
    print(
        f"bulk-label: {count(r.files, 'file')}, {r.ok} ok, {r.no_face} no_face, {r.error} error, "
        f"{count(r.faces, 'face')}{dropped}, {r.seconds:.1f} s{resumed} -> {args.out}/landmarks.csv, "
        f"{args.out}/report.csv{xml}"
    )
    return 0


def run_team_means(args: argparse.Namespace, prog: str) -> int:
    """``team-means``: run :func:`jobs.team_means.team_means`, print its summary line; the exit code."""
    groups = [g.strip() for g in args.groups.split(",") if g.strip()] if args.groups else None
    r = team_means(args.collection, args.out, manifest=args.manifest, group_by=args.group_by,
                   landmarks_csv=args.landmarks, n_jobs=args.n_jobs, background=args.background, width=args.width,
                   height=args.height, spec=_spec(args, labels=not args.landmarks), scheduler=args.scheduler,
                   min_faces=args.min_faces, groups=groups, include_unlisted=args.include_unlisted,
                   texture=args.texture, max_fit_score=args.max_fit_score)
    means = ", ".join(f"{g} {n}" for g, n in r.groups.items())
    print(f"team-means: {r.images} images, {r.used} used, {r.skipped} skipped; "
          f"means: {means}; frame {r.frame}; {r.seconds:.1f} s -> {args.out}/comparison.png")
    return 0


def run_morph_movie(args: argparse.Namespace, prog: str) -> int:
    """``morph-movie``: run :func:`jobs.morph_movie.morph_movie`, print its summary line; the exit code."""
    r = morph_movie(args.sources, args.out, manifest=args.manifest, group=args.group, group_by=args.group_by,
                    landmarks_csv=args.landmarks, fps=args.fps, seconds_per_face=args.seconds_per_face,
                    transition_fraction=args.transition_fraction, loop=args.loop, background=args.background,
                    n_jobs=args.n_jobs, width=args.width, height=args.height,
                    spec=_spec(args, labels=not args.landmarks), scheduler=args.scheduler)
    print(f"morph-movie: {count(r.faces, 'face')}, {r.skipped} skipped, {count(r.frames, 'frame')}; "
          f"frame {r.frame}; {r.seconds:.1f} s -> {r.path}")
    return 0


def _face_tool(args: argparse.Namespace, **options) -> int:
    """Run :func:`jobs.face_tools.run_tool` with the options every tool has and ``options``; print its line."""
    r = run_tool(args.job, args.images, args.out, mask=args.mask, mask_color=args.mask_color, n_jobs=args.n_jobs,
                 spec=_spec(args), scheduler=args.scheduler, **options)
    print(f"{args.job}: {r.written} images written, {r.skipped} inputs skipped, {r.seconds:.1f} s -> {args.out}")
    return 0


def run_transform(args: argparse.Namespace, prog: str) -> int:
    """``transform``: the faces moved from prototype A towards B."""
    return _face_tool(args, source=args.source, dest=args.dest, shape=args.shape, color=args.color,
                      texture=args.texture)


def run_caricature(args: argparse.Namespace, prog: str) -> int:
    """``caricature``: the faces' differences from a mean exaggerated."""
    return _face_tool(args, mean=args.mean, shape=args.shape, color=args.color, texture=args.texture)


def run_continuum(args: argparse.Namespace, prog: str) -> int:
    """``continuum``: the faces between two faces."""
    return _face_tool(args, steps=args.steps)


def run_symmetrize(args: argparse.Namespace, prog: str) -> int:
    """``symmetrize``: the faces averaged with their mirror images."""
    return _face_tool(args, sym=args.what, width=args.width, height=args.height)


def run_align(args: argparse.Namespace, prog: str) -> int:
    """``align``: the faces moved into one output frame, with landmarks.csv of the outputs."""
    return _face_tool(args, landmarks_csv=args.landmarks, eyes=args.eyes, procrustes=args.procrustes,
                      rotation=args.rotation, style=args.style, border=args.border, image_format=args.image_format,
                      width=args.width, height=args.height)


def _four_numbers(text: str) -> tuple[float, ...]:
    """``--eyes LX,LY,RX,RY``: four numbers separated by commas (argparse says so otherwise)."""
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 4:
        raise argparse.ArgumentTypeError(f"{text!r}: give four numbers LX,LY,RX,RY (pixels of the output)")
    return values


def run_export(args: argparse.Namespace, prog: str) -> int:
    """``export``: run :func:`jobs.export.export`, print its summary line; the exit code."""
    r = export(args.run_dir, args.out, fmt=args.format)
    print(f"export: {count(r.faces, 'face')} ({r.reviewed} reviewed), {count(r.files, 'file')}, "
          f"{r.seconds:.1f} s -> {r.path}")
    return 0


def run_review(args: argparse.Namespace, prog: str) -> int:
    """``review``: serve the review page of a bulk-label run (:func:`jobs.review.server.review_command`)."""
    try:
        return review_command(args.run_dir, host=args.host, port=args.port, token=args.token, archive=args.archive,
                              log_level=args.log_level)
    except KeyboardInterrupt:  # the way to stop a server: every save is already in the files
        print(f"{prog} review: stopped; the corrections saved are in {args.run_dir}/landmarks.csv", file=sys.stderr)
        return 0


def build_parser(prog: str = "morphkit") -> argparse.ArgumentParser:
    """The ``morphkit`` parser: one sub-parser per job, its ``func`` the ``run_*`` function of the job."""
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0].replace("``", ""),
                                     formatter_class=HelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    sub = parser.add_subparsers(dest="job", required=True,
                                metavar="{bulk-label,review,export,team-means,morph-movie,transform,caricature,"
                                "continuum,symmetrize,align}")

    def job(name, help, func):
        p = sub.add_parser(name, help=help, description=help, formatter_class=HelpFormatter)
        p.set_defaults(func=func)
        return p

    p = job("bulk-label", "landmarks for every image of an archive -> landmarks.csv + report.csv", run_bulk_label)
    p.add_argument("archive", help="folder of images (walked recursively), or one image file")
    p.add_argument("--out", required=True, help="output folder")
    _common(p, bulk_label)
    _option(p, bulk_label, "--overlay", action="store_true",
            help="also write OUT/overlays/<image>.jpg with the landmarks drawn (JPEG, long side at most "
            "--overlay-size)")
    _option(p, bulk_label, "--overlay-size", "overlay_side", type=int, metavar="PX",
            help="longest side of an overlay in pixels (photos larger are drawn reduced)")
    _option(p, bulk_label, "--min-score", type=float,
            help="leave out faces whose detector score is under this: 0 keeps dlib HOG's confident faces, "
            "-0.9 drops only the Haar-only faces (score -1); the report says how many (default: keep all)")
    _option(p, bulk_label, "--format", "fmt", choices=FORMATS,
            help="dlib-xml: also write OUT/landmarks.xml (dlib/iBUG 300-W XML, integer pixels)")
    _option(p, bulk_label, "--restart", action="store_true",
            help="start over; by default a run resumes what an earlier run left in --out")

    p = job("review", "correct a bulk-label run's landmarks in the browser, worst fit first", run_review)
    p.add_argument("run_dir", help="the --out folder of a bulk-label run (its landmarks.csv and journal)")
    _option(p, review_command, "--host", help="address to listen on (any address but a loopback one needs a token)")
    _option(p, review_command, "--port", type=int, help="TCP port (0: a free one)")
    _option(p, review_command, "--token", help="a token every request must carry (default: none on a loopback "
            "address, a random one printed with the URL on any other)")
    _option(p, review_command, "--archive",
            help="the archive the run labelled, when it moved (default: the one the run records)")
    _option(p, review_command, "--log-level", choices=["critical", "error", "warning", "info", "debug"],
            help="uvicorn log level (info: one line per request)")

    p = job("export", "a bulk-label run's labels (corrections in, rejected faces out) for other tools", run_export)
    p.add_argument("run_dir", help="the --out folder of a bulk-label run (its journal)")
    p.add_argument("--format", required=True, metavar="FORMAT",
                   help=f"one of {', '.join(EXPORT_FORMATS)}: tem and pts write OUT/<image without extension>_<face>"
                   ".tem|.pts, the others one file in OUT")
    p.add_argument("--out", required=True, help="output folder; for coco, dlib-xml and jsonl also a file name "
                   "with the format's suffix (labels.json, faces.xml, faces.jsonl)")

    p = job("team-means", "one mean face per group + a labelled comparison grid", run_team_means)
    p.add_argument("collection", help="folder of portraits (groups from --manifest, else sub-folders)")
    p.add_argument("--out", required=True, help="output folder")
    _option(p, team_means, "--background", choices=["frame", "face"],
            help="average the whole frame (default) or only the face on a plain background")
    _option(p, team_means, "--min-faces", type=int,
            help="a group with fewer usable faces gets no mean (a one-face mean is one person's photo)")
    _option(p, team_means, "--groups",
            help="only these groups, in this order, separated by commas (default: all, sorted)")
    _option(p, team_means, "--max-fit-score", type=float,
            help="drop faces whose fit score (disagreement of the landmarks on the face and its mirror "
            "image, %% of the inter-ocular distance) is above this; 3-5 drops the worst few %% (labels "
            "flip-averaged)")
    _option(p, team_means, "--texture", action="store_true",
            help="texture-preserving means (Tiddeman, Burt and Perrett 2001): skin and hair detail of the "
            "faces kept instead of averaged away")
    _option(p, team_means, "--include-unlisted", action="store_true",
            help="average the images the manifest does not name as a group 'unlisted' (default: skip them)")
    _collection(p, team_means)
    _common(p, team_means)

    def face_tool(name, help, func, images="images"):
        q = job(name, help, func)
        q.add_argument("images", nargs="+", help=images + ": files or folders (walked recursively)")
        q.add_argument("--out", required=True, help="output folder (the images and report.csv)")
        _option(q, run_tool, "--mask", choices=["outline", "oval"],
                help="keep only the face: its outline (jaw, whole brows and a forehead) or an oval")
        _option(q, run_tool, "--mask-color",
                help="background of --mask (needs --mask): white (default), black, grey or "
                "transparent (RGBA PNG)")
        _common(q, run_tool)
        return q

    q = face_tool("transform", "move faces along the line from prototype A to prototype B (Psychomorph's transform)",
                  run_transform, "faces to transform")
    _option(q, run_tool, "--from", "source", dest="source", required=True,
            help="prototype A (e.g. a team-means PNG, shapes.csv beside it)")
    _option(q, run_tool, "--to", "dest", dest="dest", required=True, help="prototype B")
    q.add_argument("--shape", type=float, default=DEFAULT_SHAPE["transform"],
                   help="percent of the shape difference B - A to add")
    _option(q, run_tool, "--color", type=float, help="percent of the colour difference B - A to add")
    _option(q, run_tool, "--texture", type=float,
            help="percent of the texture difference B - A (wavelet amplitude ratio) to add")
    q = face_tool("caricature", "exaggerate how faces differ from a mean (shape, and colour if asked)",
                  run_caricature, "faces to caricature")
    _option(q, run_tool, "--mean", required=True,
            help="the mean face (e.g. a team-means PNG, shapes.csv beside it)")
    q.add_argument("--shape", type=float, default=DEFAULT_SHAPE["caricature"],
                   help="percent of (face - mean) shape to add")
    _option(q, run_tool, "--color", type=float, help="percent of (face - mean) colour to add")
    _option(q, run_tool, "--texture", type=float, help="percent of (face - mean) texture to add")
    q = face_tool("continuum", "the faces between two faces at even steps, and a strip of them", run_continuum,
                  "two faces: A and B")
    _option(q, run_tool, "--steps", type=int, help="faces from A (0%%) to B (100%%), both included")
    q = face_tool("symmetrize", "average faces with their mirror images", run_symmetrize, "faces to symmetrise")
    _option(q, run_tool, "--what", "sym", choices=["both", "shape", "color"],
            help="make the shape, the colour, or both symmetric")
    _option(q, run_tool, "--width", type=int, help="output width in pixels, with --height (default: each photo keeps "
            "its size, the face levelled and centred at scale 1)")
    _option(q, run_tool, "--height", type=int, help="output height in pixels, with --width")
    q = face_tool("align", "rotate, scale and move every face into one output frame (eyes at fixed places, "
                  "Procrustes onto the mean shape, or the FFHQ crop); writes landmarks.csv of the outputs",
                  run_align, "photos to align")
    _option(q, run_tool, "--eyes", type=_four_numbers, metavar="LX,LY,RX,RY",
            help="output pixels of the image-left and image-right eye centres (default: those of the canonical "
            "frame: 42%% down, a quarter of the width apart); with --procrustes, where the mean shape's eyes go")
    _option(q, run_tool, "--procrustes", action="store_true",
            help="fit all 68 points onto the collection's Procrustes mean shape (rotation, scale, translation) "
            "instead of putting the eyes exactly in place")
    _option(q, run_tool, "--no-rotation", "rotation", dest="rotation", action="store_false",
            help="with --procrustes: scale and translation only, each face keeps its roll (default: rotated too)")
    _option(q, run_tool, "--style", choices=["ffhq"],
            help="ffhq: the FFHQ crop (Karras et al. 2019) from the eyes and mouth, square, 1024 px unless "
            "--width/--height say otherwise")
    _option(q, run_tool, "--width", type=int, help="output width in pixels, with --height (default 450, ffhq 1024)")
    _option(q, run_tool, "--height", type=int, help="output height in pixels, with --width (default 550, ffhq 1024)")
    _option(q, run_tool, "--border",
            help="the output beyond the photo's edge: replicate (its edge pixels), reflect, transparent (RGBA "
            "PNG), white, black, grey or #rrggbb")
    _option(q, run_tool, "--format", "image_format", dest="image_format", choices=["png", "jpeg"],
            help="the aligned images' format (jpeg: quality 95, no transparency)")
    _option(q, run_tool, "--landmarks", "landmarks_csv",
            help="use this landmarks.csv (from bulk-label) instead of detecting; a photo that is not the one a "
            "row was made from (its size or sha1 differs) is labelled again")

    p = job("morph-movie", "a movie morphing through a roster of faces", run_morph_movie)
    p.add_argument("sources", nargs="+", help="a collection folder, or two or more images in movie order")
    p.add_argument("--out", required=True, help="MOVIE.mp4 (or .gif)")
    _option(p, morph_movie, "--group",
            help="only the faces of this group (a manifest value, or a sub-folder without a manifest)")
    _option(p, morph_movie, "--fps", type=float, help="frames per second")
    _option(p, morph_movie, "--seconds-per-face", type=float, help="seconds each face takes (hold + morph)")
    _option(p, morph_movie, "--transition-fraction", type=float,
            help="share of each face's time spent morphing into the next, 0..1")
    _option(p, morph_movie, "--loop", action="store_true",
            help="morph from the last face back to the first (looping playback)")
    _option(p, morph_movie, "--background", choices=["frame", "face"],
            help="morph the whole frame, or only the face on a plain background")
    _collection(p, morph_movie)
    _common(p, morph_movie)
    add_debug_option(parser, sub)
    return parser


def main(argv: list[str] | None = None, prog: str = "morphkit") -> int:
    """Entry point of the ``morphkit`` console script and ``python -m jobs``; returns the exit code.

    A user's error (:func:`landmarker.clihelp.user_error_line`) is one line on stderr and exit 2
    (with ``--debug``: its traceback); any other exception is a bug and propagates. Ctrl-C: exit 130.
    """
    args = build_parser(prog).parse_args(argv)
    configure_logging()
    # Ctrl-C: one line, no traceback; the jobs remove a run's partial outputs (RunOutputs)
    return run_command(f"{prog} {args.job}", lambda: args.func(args, prog), args.debug,
                       "interrupted (none of this run's outputs kept)")


if __name__ == "__main__":
    sys.exit(main(prog="python -m jobs"))
