"""The ``landmarker`` command: train, evaluate, predict, export, serve and inspect.

Every subcommand exits 0 when it did its work and 2 with a one-line reason on
stderr when its input is unusable (docs/architecture.md, "Command line").
"""

from __future__ import annotations

import argparse
import sys

from landmarker.clihelp import HelpFormatter as HELP_FORMAT
from landmarker.clihelp import add_debug_option, configure_logging, default, package_version, run_command
from landmarker.inference.labelling import add_model_options
from landmarker.inference.parallel import add_parallel_options


def _add_train(sub) -> None:
    from landmarker.training.config import Augment, TrainConfig

    def T(name):  # each default is written once, in TrainConfig ...
        return default(TrainConfig, name)

    def A(name):  # ... and in Augment
        return default(Augment, name)

    p = sub.add_parser("train", formatter_class=HELP_FORMAT, help="train the landmark network")
    p.add_argument("--data", required=True, action="append",
                   help="training data as FORMAT:PATH; FORMAT: landmarks-csv (a folder of images/ + landmarks.csv, "
                   "or a bulk-label run's RUN_DIR/landmarks.csv; labels as stored: landmarker predict's CSV or "
                   "file,x0,y0,...,x67,y67), ytf68 (that layout, labels "
                   "moved by ytf68's measured offset onto the 300-W convention), ytf68-raw (ytf68 as stored), "
                   "dlib-xml, pts; repeat to train on several sets")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--val", help="validation data as FORMAT:PATH (formats as --data)")
    g.add_argument("--val-fraction", type=float, default=T("val_fraction"), help="share of identities held out")
    p.add_argument("--out", required=True, help="run folder for checkpoints, metrics.csv, loss_curve.png; one that "
                   "already holds a run is refused unless --resume")
    p.add_argument("--epochs", type=int, default=T("epochs"),
                   help="passes over the training data (cosine schedule over them)")
    p.add_argument("--img-size", type=int, default=T("img_size"), help="crop side in pixels")
    p.add_argument("--batch-size", type=int, default=T("batch_size"),
                   help="faces per step (default %(default)s: on ytf68 it reached a lower NME per epoch than 64)")
    p.add_argument("--lr", type=float, default=T("lr"), help="AdamW peak learning rate (after a 1-epoch warm-up)")
    p.add_argument("--weight-decay", type=float, default=T("weight_decay"), help="AdamW weight decay")
    p.add_argument("--loss", default=T("loss"), choices=["mse", "wing", "smoothl1", "l1"],
                   help="regression loss (default %(default)s: mse is fastest from scratch; wing for fine-tuning "
                   "with --init)")
    p.add_argument("--head", default=T("head"), choices=["direct", "pca"],
                   help="direct regression of 136 values, or PCA shape-model scores (ShapeNet)")
    p.add_argument("--pca-components", type=int, default=T("pca_components"), help="K for --head pca")
    p.add_argument("--seed", type=int, default=T("seed"),
                   help="seed of the identity split, initialisation and augmentation")
    p.add_argument("--detector", default=T("detector"), choices=["hog", "haar", "none"],
                   help="detector giving training face boxes ('none': boxes from landmarks)")
    p.add_argument("--init", help="start from these safetensors weights (3-channel conv1 is summed to 1)")
    p.add_argument("--resume", action="store_true",
                   help="continue from RUN_DIR/last.pt with the same settings (a changed setting, --epochs too, "
                   "is refused)")
    p.add_argument("--max-train", type=int, help="use only the first N training faces (for quick runs)")
    p.add_argument("--reviewed-only", action="store_true", default=T("reviewed_only"),
                   help="of landmarks-csv data, only the faces marked reviewed (corrected in morphkit review); "
                   "e.g. --data landmarks-csv:RUN_DIR/landmarks.csv --reviewed-only --init WEIGHTS")
    p.add_argument("--no-augment", action="store_true", help="train on plain centre crops")
    p.add_argument("--augment-strength", type=float, default=1.0,
                   help="multiply the rotation, scale, shift, brightness and contrast ranges (default %(default)s: "
                   f"+-{A('rotation_deg'):g} deg, +-{100 * A('scale'):g}%% scale, +-{100 * A('shift'):g}%% shift)")
    p.add_argument("--flip-p", type=float, default=A("flip_p"),
                   help="probability of a mirrored training crop (default %(default)s; 0 keeps a dataset's "
                   "left-right labelling convention, see the model card)")
    p.add_argument("--lowres-p", type=float, default=A("lowres_p"),
                   help="probability of resampling a crop at 30-80%% of its side and back")
    p.add_argument("--jpeg-p", type=float, default=A("jpeg_p"),
                   help="probability of a JPEG round trip at quality 30-90")
    p.add_argument("--noise-p", type=float, default=A("noise_p"),
                   help="probability of Gaussian noise, sigma 2-8 grey levels")
    p.add_argument("--shape-p", type=float, default=A("shape_p"),
                   help="probability of a shape augmentation: the face warped (piecewise-affine, labels exact) a "
                   "random share of the way onto another training face's Procrustes-aligned shape")
    p.add_argument("--unlabelled", help="folder of unlabelled portraits for semi-supervised equivariance "
                   "consistency (Honari et al., CVPR 2018): two augmented crops of each face must agree")
    p.add_argument("--consistency-weight", type=float, default=T("consistency_weight"),
                   help="weight of the consistency loss against the supervised loss")
    p.add_argument("--unlabelled-batch", type=int, default=T("unlabelled_batch"),
                   help="unlabelled faces per training step, two crops each")
    p.add_argument("--exclude", help="leave out the faces a landmarker audit-labels CSV flags as outliers "
                   "(or every image a CSV with an image column names)")
    p.add_argument("--boxes", help="CSV of face boxes (image,left,top,right,bottom) to choose training boxes "
                   "from instead of running the detector (e.g. the boxes of tools/compact_ytf68.py)")
    p.add_argument("--save-every", type=int, default=T("save_every"),
                   help="write last.pt, metrics.csv and loss_curve.png every N epochs (default %(default)s; "
                   "best.safetensors is written whenever validation improves)")
    p.add_argument("--workers", type=int, default=T("workers"),
                   help="DataLoader worker processes for augmentation (default %(default)s: 0 is the training "
                   "process)")


def _add_evaluate(sub) -> None:
    p = sub.add_parser("evaluate", formatter_class=HELP_FORMAT,
                       help="measure NME, failure rate and mean offset on labelled data")
    p.add_argument("--data", required=True, action="append",
                   help="labelled data as FORMAT:PATH[@SPLIT]; FORMAT: landmarks-csv (a folder of images/ + "
                   "landmarks.csv, labels as stored: landmarker predict's CSV or file,x0,y0,...,x67,y67), ytf68 (that "
                   "layout, labels moved by ytf68's measured offset onto the 300-W convention), ytf68-raw (ytf68 as "
                   "stored), dlib-xml, pts; the output says which labels were corrected; repeat for one table row per "
                   "dataset; @val, @train or @all chooses that dataset's split (e.g. ytf68:DIR@val)")
    add_model_options(p)
    p.add_argument("--split", choices=["all", "train", "val"], default="all",
                   help="the identity split used by `train --val-fraction`, for every --data without an @SPLIT "
                   "suffix (default: all faces)")
    p.add_argument("--val-fraction", type=float, default=0.1,
                   help="share of identities in the val split (as `train --val-fraction`)")
    p.add_argument("--seed", type=int, default=0, help="seed of the identity split (as `train --seed`)")
    p.add_argument("--ced", help="write the CED plot (PNG, one curve per dataset) to this file (default: none; "
                   "nothing is written into the current folder unasked)")
    p.add_argument("--json", help="also write the command and each dataset's numbers to this JSON file")
    p.add_argument("--update-card", action="store_true",
                   help="record the command and the rows as 'validation' in the weights' model card")


def _add_predict(sub) -> None:
    p = sub.add_parser("predict", formatter_class=HELP_FORMAT,
                       help="detect faces and predict 68 landmarks for images or folders")
    p.add_argument("paths", nargs="+", help="image files or folders (walked recursively)")
    p.add_argument("--out", required=True, help="landmarks CSV to write")
    add_model_options(p)
    add_parallel_options(p)
    p.add_argument("--boxes", help="CSV of face boxes (image,left,top,right,bottom) to use instead of the detector")
    p.add_argument("--overlay", help="folder for JPEG copies (long side at most 1024 px) with the landmarks drawn")


def _add_export(sub) -> None:
    p = sub.add_parser("export", formatter_class=HELP_FORMAT, help="export the network to another format (ONNX)")
    p.add_argument("--format", required=True, choices=["onnx"], help="output format")
    p.add_argument("--out", required=True, help="file to write (.onnx); its model card goes beside it (.json)")
    p.add_argument("--weights", help="safetensors file (default: the shipped weights)")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset version (default 17)")


def _add_inspect(sub) -> None:
    p = sub.add_parser("inspect", formatter_class=HELP_FORMAT,
                       help="pictures of the model: conv1 filters, feature maps of a face, training curves, CED")
    p.add_argument("--out", required=True, help="folder for the PNG files")
    p.add_argument("--weights", help="safetensors file (default: the shipped weights)")
    p.add_argument("--image", help="an image whose largest face's feature maps to draw")


def _add_pseudo_label(sub) -> None:
    p = sub.add_parser("pseudo-label", formatter_class=HELP_FORMAT,
                       help="label unlabelled portraits for self-training (test-time augmentation, surest kept)")
    p.add_argument("folder", help="folder of portraits (walked recursively); the largest face of each is labelled")
    p.add_argument("--out", required=True, help="folder for landmarks.csv, images (a link) and pseudo_labels.csv; "
                   "train on it with --data landmarks-csv:OUT")
    p.add_argument("--weights", help="the teacher's safetensors (default: the shipped weights)")
    p.add_argument("--keep", type=float, default=0.8,
                   help="share of the faces kept, those whose 18 test-time views agree best (default %(default)s)")
    p.add_argument("--detector", default="hog", choices=["hog", "haar", "hog+haar"], help="face detector")


def _add_audit(sub) -> None:
    p = sub.add_parser("audit-labels", formatter_class=HELP_FORMAT,
                       help="flag labelled faces whose labels disagree with the model's test-time average")
    p.add_argument("--data", required=True, action="append", help="labelled data as FORMAT:PATH (as train --data)")
    p.add_argument("--out", required=True, help="CSV to write: image,nme_pct,spread_pct,outlier (worst first); "
                   "train --exclude takes it")
    p.add_argument("--weights", help="safetensors (default: the shipped weights)")
    p.add_argument("--k", type=float, default=3.0,
                   help="outlier: NME above Q3 + k * IQR of all faces (default %(default)s)")


def _add_serve(sub) -> None:
    p = sub.add_parser("serve", formatter_class=HELP_FORMAT,
                       help="serve the model over HTTP (POST /v1/landmarks, GET /healthz)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="TCP port (default 8000)")
    add_model_options(p)
    p.add_argument("--max-upload-mb", type=float, default=20.0,
                   help="largest request body in MiB; larger uploads get 413 (default 20)")
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"],
                   help="uvicorn log level (default info: one access line per request)")




def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="landmarker", description=__doc__.splitlines()[0],
                                     formatter_class=HELP_FORMAT)
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_train(sub)
    _add_evaluate(sub)
    _add_predict(sub)
    _add_export(sub)
    _add_serve(sub)
    _add_inspect(sub)
    _add_pseudo_label(sub)
    _add_audit(sub)
    add_debug_option(parser, sub)
    return parser


def _run_train(args) -> int:
    from landmarker.training.data import Augment
    from landmarker.training.train import TrainConfig, train

    cfg = TrainConfig(
        data=args.data,
        out=args.out,
        val=args.val,
        val_fraction=args.val_fraction,
        epochs=args.epochs,
        img_size=args.img_size,
        batch_size=args.batch_size,
        lr=args.lr,
        weight_decay=args.weight_decay,
        loss=args.loss,
        head=args.head,
        pca_components=args.pca_components,
        seed=args.seed,
        detector=None if args.detector == "none" else args.detector,
        init=args.init,
        resume=args.resume,
        max_train=args.max_train,
        reviewed_only=args.reviewed_only,
        boxes=args.boxes,
        exclude=args.exclude,
        workers=args.workers,
        unlabelled=args.unlabelled,
        consistency_weight=args.consistency_weight,
        unlabelled_batch=args.unlabelled_batch,
        save_every=args.save_every,
        augment=(
            Augment(0, 0, 0, 0, 0, 0, 0)
            if args.no_augment
            else Augment(flip_p=args.flip_p, lowres_p=args.lowres_p, jpeg_p=args.jpeg_p,
                         noise_p=args.noise_p, shape_p=args.shape_p).scaled(args.augment_strength)
        ),
    )
    best = train(cfg)
    if best:
        print(
            f"best epoch {best['epoch']}: validation NME mean {100 * best['val_nme_mean']:.2f}% "
            f"-> {args.out}/best.safetensors"
        )
    return 0


def _run_evaluate(args) -> int:
    from landmarker.training.evaluate import evaluate_command

    return evaluate_command(args)


def _run_predict(args) -> int:
    from landmarker.predict import predict_command

    return predict_command(args)


def _run_export(args) -> int:
    from landmarker.model.export import export_onnx

    out = export_onnx(args.weights, args.out, opset=args.opset)
    print(f"exported {args.weights or 'shipped weights'} -> {out} (card {out.with_suffix('.json')})")
    return 0


def _run_inspect(args) -> int:
    from landmarker.inspect import inspect_command

    return inspect_command(args)


def _run_serve(args) -> int:
    from landmarker.serve import serve_command

    return serve_command(args)


def _run_pseudo_label(args) -> int:
    from landmarker.training.pseudo_label import pseudo_label

    r = pseudo_label(args.folder, args.out, args.weights, args.keep, args.detector)
    print(f"pseudo-label: {r['photos']} photos, {r['faces']} faces, {r['kept']} kept (view spread <= "
          f"{100 * r['spread_threshold']:.2f}% IOD, median {100 * r['spread_median']:.2f}%) -> {args.out}")
    return 0


def _run_audit(args) -> int:
    from landmarker.training.pseudo_label import write_audit

    rows = write_audit(args.data, args.out, args.weights, args.k)
    flagged = sum(r["outlier"] for r in rows)
    print(f"audit-labels: {len(rows)} faces, {flagged} flagged as label outliers -> {args.out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``landmarker`` console script; returns the exit code."""
    args = build_parser().parse_args(argv)
    configure_logging()
    runner = {"train": _run_train, "evaluate": _run_evaluate, "predict": _run_predict,
              "export": _run_export, "serve": _run_serve, "inspect": _run_inspect,
              "pseudo-label": _run_pseudo_label, "audit-labels": _run_audit}[args.command]
    return run_command(f"landmarker {args.command}", lambda: runner(args), args.debug)


if __name__ == "__main__":
    sys.exit(main())
