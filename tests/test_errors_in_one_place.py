"""Every exception the stack raises on purpose is defined in `memory_nodes/core/errors.py`.

One module, as networkx's `exception.py`: a caller finds every error in one place and can catch
them all as `MemoryStackError`.
"""

from __future__ import annotations

import ast
import inspect

from memory_nodes.core import errors
from tests.module_sources import parsed_modules

ERRORS_MODULE = "memory_nodes.core.errors"


def _exception_classes_outside_errors() -> list[str]:
    """Classes whose bases look like exceptions (``...Error``, ``...Exception``), by module."""
    found = []
    for module, (_, tree) in parsed_modules().items():
        if module == ERRORS_MODULE:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and any(
                ast.unparse(base).endswith(("Error", "Exception")) for base in node.bases
            ):
                found.append(f"{module}:{node.lineno} {node.name}")
    return found


def test_no_exception_class_is_defined_outside_core_errors() -> None:
    assert _exception_classes_outside_errors() == []


def test_every_error_in_core_errors_is_a_memory_stack_error() -> None:
    classes = [
        c for _, c in inspect.getmembers(errors, inspect.isclass) if c.__module__ == errors.__name__
    ]
    assert len(classes) > 5
    assert all(issubclass(c, errors.MemoryStackError) for c in classes)
