"""Train the detector from scratch on the CPU, resume it, evaluate it; nothing is downloaded.

The network is built from the model YAML that ultralytics ships (``yolo11n-seg.yaml``), with no
pretrained weights. ``YOLO_OFFLINE`` is set before ultralytics is imported, so it neither
checks for updates nor sends events; the one file its dataset check would fetch (a font for
plots) is provided from matplotlib's own copy of DejaVu Sans. A watch on Python's socket audit
events counts every connection and name lookup the run makes and writes the count to the run's
log and its ``training_time.json``: it must be 0.

Output under ``out``: ``train/weights/last.pt`` (the checkpoint ``--resume`` continues from),
``train/weights/best.pt``, ``train/results.csv`` (losses and metrics per epoch) and
``training_time.json`` (wall-clock seconds of every session, updated after every epoch).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from memory_nodes.core.errors import DependencyNotInstalledError, InvalidInputError
from memory_nodes.core.torch_runtime import hide_triton

DEFAULT_MODEL = "yolo11n-seg.yaml"
DEFAULT_IMAGE_SIZE = 320
RUN_NAME = "train"
#: Socket audit events that mean the process tried to reach another machine (or to resolve a
#: name, the first step of doing so).
NETWORK_EVENTS = frozenset({"socket.connect", "socket.getaddrinfo", "socket.gethostbyname"})


class NetworkWatch:
    """Counts network attempts of this process while active (Python's audit hooks).

    A hook cannot be removed once added, so one hook is added per process and switched on and
    off; it only records.
    """

    _lock: ClassVar[threading.Lock] = threading.Lock()
    _installed: ClassVar[bool] = False
    _active: ClassVar[int] = 0
    attempts: ClassVar[list[str]] = []

    def __enter__(self) -> NetworkWatch:
        with NetworkWatch._lock:
            if not NetworkWatch._installed:
                sys.addaudithook(NetworkWatch._hook)
                NetworkWatch._installed = True
            NetworkWatch._active += 1
        self.start = len(NetworkWatch.attempts)
        return self

    def __exit__(self, *_: object) -> None:
        with NetworkWatch._lock:
            NetworkWatch._active -= 1

    @property
    def seen(self) -> list[str]:
        """The attempts made since this watch began."""
        return NetworkWatch.attempts[self.start :]

    @staticmethod
    def _hook(event: str, args: tuple) -> None:
        if NetworkWatch._active and event in NETWORK_EVENTS:
            NetworkWatch.attempts.append(f"{event} {args[:2]!r}")


def _ultralytics(config_dir: Path | None = None) -> Any:
    """The ``ultralytics`` module, imported offline, with its font file present locally."""
    os.environ["YOLO_OFFLINE"] = "1"
    if config_dir is not None:
        os.environ.setdefault("YOLO_CONFIG_DIR", str(config_dir))
    hide_triton()  # see core/torch_runtime.py
    try:
        import ultralytics
        from ultralytics.utils import USER_CONFIG_DIR
    except ImportError as error:
        raise DependencyNotInstalledError(
            "training the detector needs ultralytics: pip install ultralytics"
        ) from error
    font = Path(USER_CONFIG_DIR) / "Arial.ttf"
    if not font.exists():
        # The dataset check looks for this font and downloads it when missing; any TrueType
        # font serves (no plots are drawn).
        import matplotlib

        source = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
        font.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, font)
    return ultralytics


@dataclass(frozen=True)
class TrainingSettings:
    """How the detector is trained (ultralytics' argument names in brackets)."""

    epochs: int = 300
    image_size: int = DEFAULT_IMAGE_SIZE  # imgsz
    batch: int = 16
    torch_threads: int = 1
    workers: int = 0  # data-loading processes (0: the training process loads)
    patience: int = 50  # epochs without a better validation fitness before stopping
    seed: int = 0
    model: str = DEFAULT_MODEL
    fraction: float = 1.0  # of the training images used
    # ultralytics' "auto" picks AdamW at lr 0.01 / (4 + classes) for runs under 10k
    # iterations, a fine-tuning rate; from scratch the network needs a larger step.
    optimizer: str = "AdamW"
    learning_rate: float = 0.001  # lr0

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch < 1 or self.torch_threads < 1 or self.workers < 0:
            raise InvalidInputError("epochs, batch and torch threads must be >= 1, workers >= 0")
        if self.image_size < 32 or self.image_size % 32:
            raise InvalidInputError(f"image size must be a multiple of 32, got {self.image_size}")
        if not self.model.endswith(".yaml"):
            raise InvalidInputError(
                f"train from a model YAML (no pretrained weights), got {self.model!r}"
            )
        if not 0.0 < self.learning_rate < 1.0:
            raise InvalidInputError(f"learning rate must be in (0, 1), got {self.learning_rate}")
        if not 0.0 < self.fraction <= 1.0:
            raise InvalidInputError(f"fraction must be in (0, 1], got {self.fraction}")


def checkpoint_path(out: str | Path) -> Path:
    """The checkpoint ``--resume`` continues from."""
    return Path(out) / RUN_NAME / "weights" / "last.pt"


class _TimeLog:
    """``training_time.json``: one entry per session, rewritten after every epoch."""

    def __init__(self, path: Path, resumed: bool, watch: NetworkWatch) -> None:
        self.path = path
        self.watch = watch
        self.sessions = json.loads(path.read_text())["sessions"] if path.exists() else []
        self.started = time.time()
        self.sessions.append(
            {
                "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.started)),
                "resumed": resumed,
                "seconds": 0.0,
                "last_epoch": 0,
                "network_attempts": 0,
            }
        )
        self.write()

    def epoch_done(self, trainer: Any) -> None:
        session = self.sessions[-1]
        session["seconds"] = round(time.time() - self.started, 1)
        # The final validation of best.pt calls this again after the last epoch.
        session["last_epoch"] = min(int(trainer.epoch) + 1, int(trainer.epochs))
        session["network_attempts"] = len(self.watch.seen)
        self.write()

    def write(self) -> None:
        total = sum(session["seconds"] for session in self.sessions)
        record = {"total_seconds": round(total, 1), "sessions": self.sessions}
        partial = self.path.with_name(self.path.name + ".partial")
        partial.write_text(json.dumps(record, indent=1) + "\n")
        os.replace(partial, self.path)


def train_detector(
    data_yaml: str | Path,
    out: str | Path,
    settings: TrainingSettings | None = None,
    resume: bool = False,
) -> dict[str, Any]:
    """Train (or with ``resume`` continue) the detector; returns the time log's record.

    Resuming takes every setting from the checkpoint (ultralytics' rule) except the number of
    torch threads and data-loading workers.
    """
    settings = settings or TrainingSettings()
    out = Path(out).resolve()
    data_yaml = Path(data_yaml).resolve()
    last = checkpoint_path(out)
    if resume and not last.exists():
        raise InvalidInputError(f"no checkpoint to resume at {last}")
    if not resume and not data_yaml.is_file():
        raise InvalidInputError(f"no dataset description at {data_yaml} (run the dataset first)")
    if not resume and last.exists():
        raise InvalidInputError(f"{last} exists: continue it with --resume, or choose another out")
    out.mkdir(parents=True, exist_ok=True)
    with NetworkWatch() as watch:
        ultralytics = _ultralytics(out / "ultralytics_settings")
        import torch

        torch.set_num_threads(settings.torch_threads)
        time_log = _TimeLog(out / "training_time.json", resume, watch)
        if resume:
            model = ultralytics.YOLO(str(last))
            model.add_callback("on_fit_epoch_end", time_log.epoch_done)
            model.train(resume=True, device="cpu", workers=settings.workers, plots=False)
        else:
            model = ultralytics.YOLO(settings.model, task="segment")
            model.add_callback("on_fit_epoch_end", time_log.epoch_done)
            model.train(
                data=str(data_yaml),
                epochs=settings.epochs,
                imgsz=settings.image_size,
                batch=settings.batch,
                workers=settings.workers,
                patience=settings.patience,
                seed=settings.seed,
                fraction=settings.fraction,
                optimizer=settings.optimizer,
                lr0=settings.learning_rate,
                device="cpu",
                project=str(out),
                name=RUN_NAME,
                exist_ok=True,
                pretrained=False,
                amp=False,
                plots=False,
                verbose=False,
            )
        time_log.sessions[-1]["network_attempts"] = len(watch.seen)
        time_log.sessions[-1]["seconds"] = round(time.time() - time_log.started, 1)
        time_log.write()
        print(f"network attempts during training: {len(watch.seen)}", file=sys.stderr)
        for attempt in watch.seen:
            print(f"  {attempt}", file=sys.stderr)
    return json.loads(time_log.path.read_text())


def evaluate_detector(
    weights: str | Path,
    data_yaml: str | Path,
    split: str = "test",
    image_size: int = DEFAULT_IMAGE_SIZE,
    batch: int = 16,
    torch_threads: int = 1,
) -> dict[str, Any]:
    """Mask and box mAP50 (and mAP50-95) on ``split``, and mask AP50 per class."""
    weights, data_yaml = Path(weights).resolve(), Path(data_yaml).resolve()
    if not weights.is_file():
        raise InvalidInputError(f"no weights at {weights}")
    if not data_yaml.is_file():
        raise InvalidInputError(f"no dataset description at {data_yaml}")
    if split not in ("train", "val", "test"):
        raise InvalidInputError(f"unknown split {split!r}; choose train, val or test")
    with NetworkWatch() as watch:
        ultralytics = _ultralytics()
        import tempfile

        import torch

        torch.set_num_threads(torch_threads)
        model = ultralytics.YOLO(str(weights))
        with tempfile.TemporaryDirectory() as scratch:
            metrics = model.val(
                data=str(data_yaml),
                split=split,
                imgsz=image_size,
                batch=batch,
                device="cpu",
                plots=False,
                project=scratch,
                name="val",
                verbose=False,
            )
        names = model.names
        per_class = {
            names[int(index)]: round(float(metrics.seg.ap50[position]), 4)
            for position, index in enumerate(metrics.seg.ap_class_index)
        }
        return {
            "weights": str(weights),
            "split": split,
            "image_size": image_size,
            "images": _split_image_count(data_yaml, split),
            "mask_map50": round(float(metrics.seg.map50), 4),
            "mask_map50_95": round(float(metrics.seg.map), 4),
            "box_map50": round(float(metrics.box.map50), 4),
            "classes_with_labels": len(per_class),
            "mask_ap50_per_class": dict(sorted(per_class.items())),
            "network_attempts": len(watch.seen),
        }


def _split_image_count(data_yaml: Path, split: str) -> int:
    import yaml

    description = yaml.safe_load(data_yaml.read_text())
    folder = Path(description.get("path", data_yaml.parent)) / description[split]
    return sum(1 for path in folder.iterdir() if path.suffix in (".png", ".jpg"))


def export_weights(checkpoint: str | Path, destination: str | Path) -> Path:
    """A small copy of a checkpoint to ship: EMA weights in half precision, no optimizer."""
    checkpoint, destination = Path(checkpoint), Path(destination)
    if not checkpoint.is_file():
        raise InvalidInputError(f"no checkpoint at {checkpoint}")
    _ultralytics()
    from ultralytics.utils.torch_utils import strip_optimizer

    destination.parent.mkdir(parents=True, exist_ok=True)
    strip_optimizer(str(checkpoint), str(destination))
    return destination
