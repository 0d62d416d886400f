"""Seconds per training batch of the detector's network on the CPU, per torch thread count.

A forward and backward pass of the network ``memstack detector train`` builds (from its YAML,
untrained) on a random batch, the bulk of a training step, timed for each thread count next to
a fixed numpy reference workload in the same process (the machine is shared: compare ratios).
``python bench/detector_train_step.py [--quick] [--threads 1 2] [--imgsz 320] [--batch 16]``
prints JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np


def reference_seconds(repeats: int) -> float:
    """Median time of a fixed single-threaded numpy workload (a 256x256 matrix product x 20)."""
    rng = np.random.default_rng(0)
    a, b = rng.random((256, 256)), rng.random((256, 256))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(20):
            a @ b
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="2 timed batches per setting")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--imgsz", type=int, default=320)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--model", default="yolo11n-seg.yaml")
    args = parser.parse_args(argv)
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from memory_nodes.core.torch_runtime import hide_triton

    hide_triton()
    import torch
    from ultralytics import YOLO

    network = YOLO(args.model, task="segment").model
    network.train()
    for parameter in network.parameters():
        parameter.requires_grad_(True)
    batch = torch.rand(args.batch, 3, args.imgsz, args.imgsz)
    repeats = 2 if args.quick else 5
    rows = []
    for threads in args.threads:
        torch.set_num_threads(threads)
        network.zero_grad()
        sum(o.float().sum() for o in _flat(network(batch))).backward()  # warm-up
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            network.zero_grad()
            sum(o.float().sum() for o in _flat(network(batch))).backward()
            times.append(time.perf_counter() - start)
        reference = reference_seconds(5)
        rows.append(
            {
                "torch_threads": threads,
                "batch_seconds_median": round(float(np.median(times)), 3),
                "images_per_second": round(args.batch / float(np.median(times)), 2),
                "reference_seconds": round(reference, 4),
                "batch_over_reference": round(float(np.median(times)) / reference, 1),
            }
        )
    print(json.dumps({"model": args.model, "imgsz": args.imgsz, "batch": args.batch,
                      "repeats": repeats, "rows": rows}, indent=1))  # fmt: skip
    return 0


def _flat(output: object) -> list:
    if isinstance(output, torch_tensor_type()):
        return [output]
    if isinstance(output, dict):
        output = list(output.values())
    if isinstance(output, (list, tuple)):
        return [leaf for item in output for leaf in _flat(item)]
    return []


def torch_tensor_type() -> type:
    import torch

    return torch.Tensor


if __name__ == "__main__":
    raise SystemExit(main())
