"""Locate SUMO's binaries and tools from the eclipse-sumo wheel, and run them.

No traci/libsumo import here: this only starts SUMO's command-line programs and scripts
(netgenerate, netconvert, duarouter, randomTrips.py, routeSampler.py, ...).
"""

from __future__ import annotations

import os
import subprocess
import sys
from functools import lru_cache
from pathlib import Path


class SumoToolError(RuntimeError):
    """A SUMO program exited non-zero; carries its command line and the tail of its output.

    Attributes:
        tool: the program's name (``duarouter``, ``randomTrips.py``, ...), or "" when unknown.
        first_error: the first ``Error:`` line it printed (without the prefix), else the last
            line of its output -- what the CLI prints as the one line for this failure.
    """

    def __init__(self, message: str, tool: str = "", first_error: str = ""):
        super().__init__(message)
        self.tool = tool
        self.first_error = first_error or (message.strip().splitlines() or [""])[-1]


@lru_cache(maxsize=1)
def sumo_home() -> Path:
    """SUMO_HOME: the environment variable if set and valid, else the eclipse-sumo wheel."""
    env = os.environ.get("SUMO_HOME")
    if env and (Path(env) / "bin").is_dir():
        return Path(env)
    try:
        import sumo  # the eclipse-sumo wheel; pure data, no SUMO_HOME needed
    except ImportError as exc:  # pragma: no cover - install problem
        raise SumoToolError(
            "SUMO not found: install the eclipse-sumo wheel (make install)"
        ) from exc
    return Path(sumo.SUMO_HOME)


def binary(name: str) -> str:
    """Absolute path of a SUMO binary such as ``sumo``, ``netconvert`` or ``duarouter``."""
    path = sumo_home() / "bin" / name
    if not path.exists():
        raise SumoToolError(f"SUMO binary {name!r} not found under {path.parent}")
    return str(path)


def tool(relpath: str) -> str:
    """Absolute path of a SUMO tool script, e.g. ``randomTrips.py`` or ``tlsCycleAdaptation.py``."""
    path = sumo_home() / "tools" / relpath
    if not path.exists():
        raise SumoToolError(f"SUMO tool {relpath!r} not found under {path.parent}")
    return str(path)


def sumo_env() -> dict[str, str]:
    """Environment for child processes: SUMO_HOME set so SUMO's tools find their siblings."""
    env = dict(os.environ)
    env["SUMO_HOME"] = str(sumo_home())
    return env


def run(
    cmd: list[str], *, cwd: str | os.PathLike | None = None, timeout_s: float | None = None
) -> str:
    """Run a SUMO program or tool; return its stdout+stderr, raise SumoToolError on failure.

    A ``.py`` first element is run with this interpreter so the tools see the same packages.
    """
    if cmd and str(cmd[0]).endswith(".py"):
        cmd = [sys.executable, *cmd]
    proc = subprocess.run(
        [str(c) for c in cmd],
        cwd=cwd,
        env=sumo_env(),
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )
    out = (proc.stdout or "") + (proc.stderr or "")
    if proc.returncode != 0:
        lines = out.strip().splitlines()
        tail = "\n".join(lines[-15:])
        name = Path(str(cmd[1] if str(cmd[0]) == sys.executable else cmd[0])).name
        errors = [ln.strip() for ln in lines if ln.strip().startswith("Error")]
        first = errors[0].split(":", 1)[-1].strip() if errors else ""
        if not first:
            first = lines[-1].strip() if lines else f"exit status {proc.returncode}"
        raise SumoToolError(
            f"{name} exited {proc.returncode}:\n{tail}",
            tool=name,
            first_error=" ".join(first.split()),
        )
    return out
