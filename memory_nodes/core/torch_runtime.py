"""Importing torch safely next to MuJoCo's EGL renderer.

torch probes for triton (a GPU compiler with its own LLVM) on first use of its compiler
modules, which ultralytics (and sentence-transformers) trigger. In a process that has already
rendered with Mesa's EGL (whose llvmpipe loads another LLVM), importing triton crashes the
process with a segmentation fault. The memory stack runs its models on the CPU without
``torch.compile``, so it tells torch that triton is absent before torch looks for it.
"""

from __future__ import annotations

import sys


def hide_triton() -> None:
    """Make ``import triton`` fail with ImportError in this process, unless already loaded."""
    if "triton" not in sys.modules:
        sys.modules["triton"] = None  # type: ignore[assignment]
