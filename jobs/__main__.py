"""Batch jobs over photo collections: ``python -m jobs <job> ...``."""

from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m jobs", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="job", required=True)
    p = sub.add_parser("bulk-label", help="landmarks for every image of an archive -> landmarks.csv + report.csv")
    p.add_argument("archive", help="folder of images (walked recursively)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--n-jobs", type=int, default=1, help="parallel worker processes (-1: one per core)")
    p.add_argument("--weights", help="safetensors file (default: the shipped weights)")
    p.add_argument("--detector", default="hog", choices=["hog", "haar"])
    p.add_argument("--overlay", action="store_true", help="also write OUT/overlays/<image>.png with the landmarks drawn")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.job == "bulk-label":
            from .bulk_label import bulk_label

            c = bulk_label(args.archive, args.out, args.n_jobs, args.weights, args.detector, args.overlay)
            print(
                f"bulk-label: {c['files']} files, {c['ok']} ok, {c['no_face']} no_face, {c['error']} error, "
                f"{c['faces']} faces, {c['seconds']:.1f} s -> {args.out}/landmarks.csv, {args.out}/report.csv"
            )
            return 0
    except (FileNotFoundError, ValueError) as err:
        print(f"jobs {args.job}: error: {err}", file=sys.stderr)
        return 2
    return 2


if __name__ == "__main__":
    sys.exit(main())
