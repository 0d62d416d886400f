"""The exceptions the memory core raises on purpose, in one place (as networkx does)."""


class MemoryStackError(Exception):
    """Base class of every error the memory stack raises on purpose."""


class InvalidInputError(MemoryStackError, ValueError):
    """An input failed validation; the message names the field and why."""


class NotFoundError(MemoryStackError, KeyError):
    """A `get_` lookup found nothing (the `find_` variants return None instead)."""

    def __str__(self) -> str:
        # KeyError quotes its argument; a message reads better plain.
        return str(self.args[0]) if self.args else ""


class DependencyNotInstalledError(MemoryStackError, ImportError):
    """An optional dependency is missing; the message says what to install."""
