#!/usr/bin/env python3
"""One entry point for people and CI: ``python3 tasks.py demo`` and ``python3 tasks.py test``.

Needs nothing but Python >= 3.11: it makes ``.venv`` beside this file on first use, installs the
project into it, and runs the command there.

  demo        start the embedded DMS simulator and the MCP server, drive it with a real MCP client
              (installs only what the server needs)
  test        lint, type-check, the whole test suite, outside MCP clients, and the container image built and
              checked against a real Docker engine (what CI runs)
  bench       run the benchmarks, write bench/results/
  serve ...   run `bgtask-mcp serve ...` from the project's environment
  bundle      build dist/bgtask-mcp-<version>.mcpb, the MCP Bundle Claude Desktop installs in one click
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".installed"


def sh(*args: str | Path, env: dict[str, str] | None = None) -> None:
    print("+", " ".join(str(a) for a in args), file=sys.stderr, flush=True)
    subprocess.run([str(a) for a in args], cwd=ROOT, check=True, env=env)


def ensure_env(extras: str) -> None:
    """Create the virtual environment and install the project (with these extras) once per change of
    pyproject.toml; an environment that already has more extras is kept."""
    if sys.version_info < (3, 11):
        sys.exit("bgtask-mcp needs Python >= 3.11")
    if not PY.exists():
        venv.EnvBuilder(with_pip=True).create(VENV)
    project = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    installed = STAMP.read_text().split() if STAMP.exists() else []
    if installed[:1] == [project] and set(extras.split(",")) - {""} <= set(installed[1:]):
        return
    target = f".[{extras}]" if extras else "."
    sh(PY, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-e", target)
    STAMP.write_text(" ".join([project, *sorted(set(extras.split(",")) - {""})]))


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "help"
    rest = argv[1:]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    try:
        if command == "demo":
            ensure_env("")
            sh(BIN / "bgtask-mcp", "demo", *rest, env=env)
        elif command == "test":
            ensure_env("test")
            sh(PY, "-m", "ruff", "check", "bgtask_mcp", "tests", "bench", "deploy", "tasks.py", ".ci")
            sh(PY, "-m", "ruff", "format", "--check", "bgtask_mcp", "tests", "bench", "deploy", "tasks.py", ".ci")
            sh(PY, "-m", "mypy")
            sh(PY, "-m", "vulture", "bgtask_mcp", "--min-confidence", "80")  # no dead code
            sh(PY, "-m", "pytest", *rest, env=env)
            if not rest:
                sh(PY, str(ROOT / ".ci" / "outside_clients.py"), env=env)
                sh(PY, str(ROOT / "deploy" / "check_image.py"), env=env)
        elif command == "bench":
            ensure_env("test,bench")
            sh(PY, "-m", "bench", *rest, env=env)
        elif command == "bundle":
            ensure_env("")
            sh(PY, str(ROOT / "deploy" / "build_mcpb.py"), *rest, env=env)
        elif command == "serve":
            ensure_env("")
            sh(BIN / "bgtask-mcp", "serve", *rest, env=env)
        else:
            print(__doc__)
            return 0 if command in {"help", "-h", "--help"} else 2
    except subprocess.CalledProcessError as exc:
        return exc.returncode or 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
