"""``memstack detector dataset|train|evaluate|export``: the detector's command line."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from memory_nodes.core.errors import InvalidInputError
from memory_nodes.detection.splits import SPLITS, split_of_scene

DEFAULT_ROOT = Path("build/detector")


class _OneLineParser(argparse.ArgumentParser):
    """Bad arguments are reported in one line with exit code 2, as every memstack command."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(prog="memstack detector", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_OneLineParser)

    dataset = commands.add_parser(
        "dataset", help="render images and instance masks of the FloorPlan splits (resumable)"
    )
    dataset.add_argument("--out", type=Path, default=DEFAULT_ROOT / "dataset")
    dataset.add_argument("--width", type=int, default=320)
    dataset.add_argument("--height", type=int, default=240)
    dataset.add_argument("--seed", type=int, default=0)
    for split, count in (("train", 60), ("val", 20), ("test", 30)):
        dataset.add_argument(
            f"--{split}-views", type=int, default=count, help=f"views per {split} FloorPlan"
        )
    dataset.add_argument(
        "--scenes", nargs="+", default=None, help="only these FloorPlans (default: every split's)"
    )
    dataset.add_argument("--no-progress", action="store_true", help="no progress bar")

    train = commands.add_parser("train", help="train the detector from scratch on the CPU")
    train.add_argument("--data", type=Path, default=DEFAULT_ROOT / "dataset" / "data.yaml")
    train.add_argument("--out", type=Path, default=DEFAULT_ROOT / "runs")
    train.add_argument("--resume", action="store_true", help="continue from OUT's last checkpoint")
    train.add_argument("--epochs", type=int, default=300)
    train.add_argument("--imgsz", type=int, default=320, help="network input size (pixels)")
    train.add_argument("--batch", type=int, default=16)
    train.add_argument("--threads", type=int, default=1, help="torch threads")
    train.add_argument("--workers", type=int, default=0, help="data-loading processes")
    train.add_argument("--patience", type=int, default=50)
    train.add_argument("--model", default="yolo11n-seg.yaml", help="model YAML (no weights)")
    train.add_argument("--fraction", type=float, default=1.0, help="of the training images")
    train.add_argument("--optimizer", choices=("AdamW", "SGD", "auto"), default="AdamW")
    train.add_argument("--lr0", type=float, default=0.001, help="initial learning rate")

    evaluate = commands.add_parser("evaluate", help="mask mAP50 and per-class AP on a split")
    evaluate.add_argument("--weights", type=Path, required=True)
    evaluate.add_argument("--data", type=Path, default=DEFAULT_ROOT / "dataset" / "data.yaml")
    evaluate.add_argument("--split", choices=SPLITS, default="test")
    evaluate.add_argument("--imgsz", type=int, default=320)
    evaluate.add_argument("--batch", type=int, default=16)
    evaluate.add_argument("--threads", type=int, default=1, help="torch threads")
    evaluate.add_argument("--json", type=Path, default=None, help="also write the result here")

    export = commands.add_parser("export", help="a small copy of a checkpoint to ship")
    export.add_argument("--checkpoint", type=Path, required=True)
    export.add_argument("--to", type=Path, required=True)
    return parser


def _dataset(args: argparse.Namespace) -> int:
    from memory_nodes.detection.dataset import DatasetSpec, generate_dataset, split_scenes

    views = {"train": args.train_views, "val": args.val_views, "test": args.test_views}
    if min(views.values()) < 0:
        raise InvalidInputError("views per FloorPlan must not be negative")
    scenes = {split: list(split_scenes(split)) for split in SPLITS}
    if args.scenes:
        chosen = {split: [] for split in SPLITS}
        for scene in args.scenes:
            chosen[split_of_scene(scene)].append(scene)
        scenes = chosen
    spec = DatasetSpec(
        width=args.width, height=args.height, seed=args.seed, views_per_scene=views, scenes=scenes
    )
    summary = generate_dataset(args.out, spec, progress=not args.no_progress)
    print(json.dumps(summary, indent=1))
    return 0


def _train(args: argparse.Namespace) -> int:
    from memory_nodes.detection.training import TrainingSettings, train_detector

    settings = TrainingSettings(
        epochs=args.epochs,
        image_size=args.imgsz,
        batch=args.batch,
        torch_threads=args.threads,
        workers=args.workers,
        patience=args.patience,
        model=args.model,
        fraction=args.fraction,
        optimizer=args.optimizer,
        learning_rate=args.lr0,
    )
    record = train_detector(args.data, args.out, settings, resume=args.resume)
    print(json.dumps(record, indent=1))
    return 0 if record["sessions"][-1]["network_attempts"] == 0 else 1


def _evaluate(args: argparse.Namespace) -> int:
    from memory_nodes.detection.training import evaluate_detector

    result = evaluate_detector(
        args.weights, args.data, args.split, args.imgsz, args.batch, args.threads
    )
    text = json.dumps(result, indent=1)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")
    print(text)
    return 0


def _export(args: argparse.Namespace) -> int:
    from memory_nodes.detection.training import export_weights

    path = export_weights(args.checkpoint, args.to)
    print(f"{path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0


COMMANDS = {"dataset": _dataset, "train": _train, "evaluate": _evaluate, "export": _export}


def main(argv: Sequence[str] | None = None) -> int:
    """Exit code 0 done, 1 failed (network attempts while training), 2 bad input."""
    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    return COMMANDS[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
