"""Batch jobs over photo collections: ``morphkit <job> ...`` (or ``python -m jobs <job> ...``)."""

from __future__ import annotations

import argparse
import sys

from landmarker.clihelp import (
    HelpFormatter,
    add_debug_option,
    configure_logging,
    count,
    package_version,
    user_error_line,
)
from landmarker.inference.labelling import ModelSpec, add_model_options
from landmarker.inference.parallel import add_parallel_options


def _common(p) -> None:
    add_model_options(p)
    add_parallel_options(p)


def _collection(p) -> None:
    p.add_argument("--manifest", help="CSV naming each image (file or stem) and its group; images it does not "
                   "name are skipped and reported")
    p.add_argument("--group-by", help="manifest column that gives the group, or several separated by commas for "
                   "their cross (party,gender)")
    p.add_argument("--landmarks", help="use this landmarks.csv (from bulk-label) instead of detecting")
    p.add_argument("--width", type=int, default=450, help="output width in pixels")
    p.add_argument("--height", type=int, default=550, help="output height in pixels")


def build_parser(prog: str = "morphkit") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0].replace("``", ""),
                                     formatter_class=HelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    sub = parser.add_subparsers(dest="job", required=True,
                                metavar="{bulk-label,team-means,morph-movie,transform,caricature,continuum,symmetrize}")

    def job(name, help):
        return sub.add_parser(name, help=help, description=help, formatter_class=HelpFormatter)

    p = job("bulk-label", "landmarks for every image of an archive -> landmarks.csv + report.csv")
    p.add_argument("archive", help="folder of images (walked recursively)")
    p.add_argument("--out", required=True, help="output folder")
    _common(p)
    p.add_argument("--overlay", action="store_true",
                   help="also write OUT/overlays/<image>.png with the landmarks drawn")
    p.add_argument("--format", default="csv", choices=["csv", "dlib-xml"],
                   help="dlib-xml: also write OUT/landmarks.xml (dlib/iBUG 300-W XML, integer pixels)")
    p.add_argument("--restart", action="store_true",
                   help="start over; by default a run resumes what an earlier run left in --out")

    p = job("team-means", "one mean face per group + a labelled comparison grid")
    p.add_argument("collection", help="folder of portraits (groups from --manifest, else sub-folders)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--background", choices=["frame", "face"], default="frame",
                   help="average the whole frame (default) or only the face on a plain background")
    p.add_argument("--min-faces", type=int, default=2,
                   help="a group with fewer usable faces gets no mean (a one-face mean is one person's photo)")
    p.add_argument("--groups", help="only these groups, in this order, separated by commas (default: all, sorted)")
    p.add_argument("--max-fit-score", type=float,
                   help="drop faces whose fit score (disagreement of the landmarks on the face and its mirror "
                   "image, %% of the inter-ocular distance) is above this; 3-5 drops the worst few %% (labels "
                   "flip-averaged)")
    p.add_argument("--texture", action="store_true",
                   help="texture-preserving means (Tiddeman, Burt and Perrett 2001): skin and hair detail of the "
                   "faces kept instead of averaged away")
    p.add_argument("--include-unlisted", action="store_true",
                   help="average the images the manifest does not name as a group 'unlisted' (default: skip them)")
    _collection(p)
    _common(p)

    def face_tool(name, help, images="images"):
        q = job(name, help)
        q.add_argument("images", nargs="+", help=images + ": files or folders (walked recursively)")
        q.add_argument("--out", required=True, help="output folder (PNG files and report.csv)")
        q.add_argument("--mask", choices=["outline", "oval"],
                       help="keep only the face: its outline (jaw and brows) or an oval")
        q.add_argument("--mask-color",
                       help="background of --mask (needs --mask): white (default), black, grey or "
                       "transparent (RGBA PNG)")
        _common(q)
        return q

    q = face_tool("transform", "move faces along the line from prototype A to prototype B (Psychomorph's transform)",
                  "faces to transform")
    q.add_argument("--from", dest="source", required=True,
                   help="prototype A (e.g. a team-means PNG, shapes.csv beside it)")
    q.add_argument("--to", dest="dest", required=True, help="prototype B")
    q.add_argument("--shape", type=float, default=100.0, help="percent of the shape difference B - A to add")
    q.add_argument("--color", type=float, default=0.0, help="percent of the colour difference B - A to add")
    q.add_argument("--texture", type=float, default=0.0,
                   help="percent of the texture difference B - A (wavelet amplitude ratio) to add")
    q = face_tool("caricature", "exaggerate how faces differ from a mean (shape, and colour if asked)",
                  "faces to caricature")
    q.add_argument("--mean", required=True, help="the mean face (e.g. a team-means PNG, shapes.csv beside it)")
    q.add_argument("--shape", type=float, default=50.0, help="percent of (face - mean) shape to add")
    q.add_argument("--color", type=float, default=0.0, help="percent of (face - mean) colour to add")
    q.add_argument("--texture", type=float, default=0.0, help="percent of (face - mean) texture to add")
    q = face_tool("continuum", "the faces between two faces at even steps, and a strip of them", "two faces: A and B")
    q.add_argument("--steps", type=int, default=11, help="faces from A (0%%) to B (100%%), both included")
    q = face_tool("symmetrize", "average faces with their mirror images", "faces to symmetrise")
    q.add_argument("--what", choices=["both", "shape", "color"], default="both",
                   help="make the shape, the colour, or both symmetric")
    q.add_argument("--width", type=int, help="output width in pixels, with --height (default: each photo keeps its "
                   "size, the face levelled and centred at scale 1)")
    q.add_argument("--height", type=int, help="output height in pixels, with --width")

    p = job("morph-movie", "a movie morphing through a roster of faces")
    p.add_argument("sources", nargs="+", help="a collection folder, or two or more images in movie order")
    p.add_argument("--out", required=True, help="MOVIE.mp4 (or .gif)")
    p.add_argument("--group",
                   help="only the faces of this group (a manifest value, or a sub-folder without a manifest)")
    p.add_argument("--fps", type=float, default=30.0, help="frames per second")
    p.add_argument("--seconds-per-face", type=float, default=1.5, help="seconds each face takes (hold + morph)")
    p.add_argument("--transition-fraction", type=float, default=0.5,
                   help="share of each face's time spent morphing into the next, 0..1")
    p.add_argument("--loop", action="store_true", help="morph from the last face back to the first (looping playback)")
    p.add_argument("--background", choices=["frame", "face"], default="frame",
                   help="morph the whole frame, or only the face on a plain background")
    _collection(p)
    _common(p)
    add_debug_option(parser, sub)
    return parser


def main(argv: list[str] | None = None, prog: str = "morphkit") -> int:
    """Entry point of the ``morphkit`` console script and ``python -m jobs``; returns the exit code."""
    args = build_parser(prog).parse_args(argv)
    configure_logging()
    spec = ModelSpec.from_args(args)
    try:
        if args.verbose and not getattr(args, "landmarks", None):
            print(spec.describe(), file=sys.stderr)
        if args.job == "bulk-label":
            from .bulk_label import bulk_label

            try:
                c = bulk_label(args.archive, args.out, args.n_jobs, spec, args.overlay,
                               restart=args.restart, fmt=args.format, scheduler=args.scheduler)
            except KeyboardInterrupt:
                print(f"{prog} bulk-label: interrupted; run the same command again to resume", file=sys.stderr)
                return 130
            resumed = f" ({c['resumed']} done by an earlier run)" if c["resumed"] else ""
            xml = f", {args.out}/landmarks.xml" if c["xml"] else ""
            print(
                f"bulk-label: {count(c['files'], 'file')}, {c['ok']} ok, {c['no_face']} no_face, {c['error']} error, "
                f"{count(c['faces'], 'face')}, {c['seconds']:.1f} s{resumed} -> {args.out}/landmarks.csv, "
                f"{args.out}/report.csv{xml}"
            )
        elif args.job == "team-means":
            from .team_means import team_means

            groups = [g.strip() for g in args.groups.split(",") if g.strip()] if args.groups else None
            r = team_means(args.collection, args.out, args.manifest, args.group_by, args.landmarks,
                           args.n_jobs, args.background, args.width, args.height, spec, args.scheduler,
                           min_faces=args.min_faces, groups=groups, include_unlisted=args.include_unlisted,
                           texture=args.texture, max_fit_score=args.max_fit_score)
            groups = ", ".join(f"{g} {n}" for g, n in r["groups"].items())
            print(f"team-means: {r['images']} images, {r['used']} used, {r['skipped']} skipped; "
                  f"means: {groups}; {r['seconds']:.1f} s -> {args.out}/comparison.png")
        elif args.job == "morph-movie":
            from .morph_movie import morph_movie

            r = morph_movie(args.sources, args.out, args.manifest, args.group, args.group_by, args.landmarks,
                            args.fps, args.seconds_per_face, args.n_jobs, args.width, args.height, spec,
                            args.scheduler, loop=args.loop, transition_fraction=args.transition_fraction,
                            background=args.background)
            print(f"morph-movie: {count(r['faces'], 'face')}, {r['skipped']} skipped, {count(r['frames'], 'frame')}, "
                  f"{r['seconds']:.1f} s -> {r['path']}")
        elif args.job in ("transform", "caricature", "continuum", "symmetrize"):
            from .face_tools import run_tool

            r = run_tool(args.job, args.images, args.out, spec, source=getattr(args, "source", None),
                         dest=getattr(args, "dest", None), mean=getattr(args, "mean", None),
                         shape=getattr(args, "shape", 100.0), color=getattr(args, "color", 0.0),
                         texture=getattr(args, "texture", 0.0),
                         steps=getattr(args, "steps", 11), sym=getattr(args, "what", "both"),
                         mask=args.mask, mask_color=args.mask_color, n_jobs=args.n_jobs, scheduler=args.scheduler,
                         width=getattr(args, "width", None), height=getattr(args, "height", None))
            print(f"{args.job}: {r['written']} images written, {r['skipped']} inputs skipped, {r['seconds']:.1f} s "
                  f"-> {args.out}")
        return 0
    except KeyboardInterrupt:  # one line, no traceback; the jobs remove a run's partial outputs (RunOutputs)
        print(f"{prog} {args.job}: interrupted (none of this run's outputs kept)", file=sys.stderr)
        return 130
    except Exception as err:
        line = user_error_line(err)
        if line is None or args.debug:  # a bug in our code, or asked for: the traceback
            raise
        print(f"{prog} {args.job}: error: {line}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(prog="python -m jobs"))
