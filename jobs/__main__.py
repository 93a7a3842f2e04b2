"""Batch jobs over photo collections: ``python -m jobs <job> ...``."""

from __future__ import annotations

import argparse
import sys

from landmarker.detect import DEFAULT_DETECTOR, DETECTORS


def _common(p, n_jobs_default=1) -> None:
    p.add_argument("--n-jobs", type=int, default=n_jobs_default, help="parallel worker processes (-1: one per core)")


def _collection(p) -> None:
    p.add_argument("--manifest", help="CSV naming each image (file or stem) and its group")
    p.add_argument("--group-by", help="manifest column that gives the group")
    p.add_argument("--landmarks", help="use this landmarks.csv (from bulk-label) instead of detecting")
    p.add_argument("--width", type=int, default=450, help="output width in pixels (default 450)")
    p.add_argument("--height", type=int, default=550, help="output height in pixels (default 550)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m jobs", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="job", required=True)

    p = sub.add_parser("bulk-label", help="landmarks for every image of an archive -> landmarks.csv + report.csv")
    p.add_argument("archive", help="folder of images (walked recursively)")
    p.add_argument("--out", required=True, help="output folder")
    _common(p)
    p.add_argument("--weights", help="safetensors file (default: the shipped weights)")
    p.add_argument("--detector", default=DEFAULT_DETECTOR, choices=DETECTORS,
                   help=f"face detector (default {DEFAULT_DETECTOR}: HOG, with a Haar-verified fallback)")
    p.add_argument("--overlay", action="store_true", help="also write OUT/overlays/<image>.png with the landmarks drawn")
    p.add_argument("--format", default="csv", choices=["csv", "dlib-xml"],
                   help="dlib-xml: also write OUT/landmarks.xml (dlib/iBUG 300-W XML, integer pixels)")
    p.add_argument("--restart", action="store_true",
                   help="start over; by default a run resumes what an earlier run left in --out")
    p.add_argument("--backend", choices=["loky", "dask"],
                   help="run the work on local processes (loky, default) or a Dask cluster (dask)")
    p.add_argument("--scheduler", help="Dask scheduler address, e.g. tcp://10.0.0.5:8786 (implies --backend dask)")

    p = sub.add_parser("team-means", help="one mean face per group + a labelled comparison grid")
    p.add_argument("collection", help="folder of portraits (groups from --manifest, else sub-folders)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--background", choices=["frame", "face"], default="frame",
                   help="average the whole frame (default) or only the face on a plain background")
    _collection(p)
    _common(p)

    p = sub.add_parser("morph-movie", help="a movie morphing through a roster of faces")
    p.add_argument("sources", nargs="+", help="a collection folder, or two or more images in movie order")
    p.add_argument("--out", required=True, help="MOVIE.mp4 (or .gif)")
    p.add_argument("--group", help="only the faces of this manifest group")
    p.add_argument("--fps", type=float, default=30.0)
    p.add_argument("--seconds-per-face", type=float, default=1.5)
    _collection(p)
    _common(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.job == "bulk-label":
            from .bulk_label import bulk_label

            try:
                c = bulk_label(args.archive, args.out, args.n_jobs, args.weights, args.detector, args.overlay,
                               restart=args.restart, fmt=args.format, backend=args.backend, scheduler=args.scheduler)
            except KeyboardInterrupt:
                print("jobs bulk-label: interrupted; run the same command again to resume", file=sys.stderr)
                return 130
            resumed = f" ({c['resumed']} done by an earlier run)" if c["resumed"] else ""
            xml = f", {args.out}/landmarks.xml" if c["xml"] else ""
            print(
                f"bulk-label: {c['files']} files, {c['ok']} ok, {c['no_face']} no_face, {c['error']} error, "
                f"{c['faces']} faces, {c['seconds']:.1f} s{resumed} -> {args.out}/landmarks.csv, "
                f"{args.out}/report.csv{xml}"
            )
        elif args.job == "team-means":
            from .team_means import team_means

            r = team_means(args.collection, args.out, args.manifest, args.group_by, args.landmarks,
                           args.n_jobs, args.background, args.width, args.height)
            groups = ", ".join(f"{g} {n}" for g, n in r["groups"].items())
            print(f"team-means: {r['images']} images, {r['used']} used, {r['skipped']} skipped; "
                  f"means: {groups}; {r['seconds']:.1f} s -> {args.out}/comparison.png")
        elif args.job == "morph-movie":
            from .morph_movie import morph_movie

            r = morph_movie(args.sources, args.out, args.manifest, args.group, args.group_by, args.landmarks,
                            args.fps, args.seconds_per_face, args.n_jobs, args.width, args.height)
            print(f"morph-movie: {r['faces']} faces, {r['skipped']} skipped, {r['frames']} frames, "
                  f"{r['seconds']:.1f} s -> {r['path']}")
        return 0
    except (FileNotFoundError, ValueError) as err:
        print(f"jobs {args.job}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
