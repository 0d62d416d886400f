"""The modules of `memory_nodes` and `sim`, read and parsed once per test session.

The import-cycle and error-placement checks both read every module; parsing the source
(about 1 MB) once keeps them cheap enough for the fast loop.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("memory_nodes", "sim")


@cache
def parsed_modules() -> dict[str, tuple[Path, ast.Module]]:
    """Dotted module name -> (file, syntax tree), for every module of the checked packages."""
    modules = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = (path, ast.parse(path.read_text(), filename=str(path)))
    return modules
