"""Path of a launcher the ai2thor client can start as its "Unity executable".

The client runs ``local_executable_path`` as a program with extra ``-screen-*`` arguments, so the
launcher is a tiny script whose interpreter is the Python running this package. It is written to
the user's cache folder on first use because the interpreter path differs between installations.
"""

from __future__ import annotations

import hashlib
import os
import stat
import sys
import tempfile
from pathlib import Path

_PACKAGE_ROOT = Path(__file__).resolve().parent.parent


def _launcher_text() -> str:
    return (
        f"#!{sys.executable}\n"
        "import sys\n"
        f"sys.path.insert(0, {str(_PACKAGE_ROOT)!r})\n"
        "from sim.thor_pipe_server import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )


def executable_path() -> str:
    """Absolute path of an executable that runs the simulator behind the ai2thor client.

    Use it as ``Controller(local_executable_path=sim.executable_path(), x_display=":0", ...)``;
    the external-build path skips the client's download and ``x_display`` skips its X check.
    """
    text = _launcher_text()
    digest = hashlib.sha1(text.encode()).hexdigest()[:12]
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "memory_nodes"
    path = cache / f"household-sim-{digest}"
    if not path.exists() or path.read_text() != text:
        cache.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cache, prefix=".household-sim-")
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, stat.S_IRWXU | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)
        os.replace(tmp, path)  # atomic, so parallel test processes never see half a file
    return str(path)
