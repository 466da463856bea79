"""Importing any module of the package changes nothing outside it: no log filter or handler attached, no logging
global flipped, prometheus_client's process-wide settings untouched, no secret registered. Each module is
imported in a fresh interpreter, as a user's program would import it."""

from __future__ import annotations

import json
import subprocess
import sys

from .test_import_graph import modules

PROBE = r"""
import importlib, json, logging, sys
import prometheus_client.metrics as pm
before = (list(logging.getLogger().handlers), logging.logThreads, logging._srcfile, pm._use_created)
importlib.import_module(sys.argv[1])
from bgtask_mcp.redaction import REGISTRY, RedactingFilter
filtered = [
    name for name, logger in logging.Logger.manager.loggerDict.items()
    if isinstance(logger, logging.Logger) and any(isinstance(f, RedactingFilter) for f in logger.filters)
]
after = (list(logging.getLogger().handlers), logging.logThreads, logging._srcfile, pm._use_created)
print(json.dumps({"filtered": filtered, "changed": before != after, "registered": len(REGISTRY)}))
"""


def test_importing_any_module_has_no_side_effect() -> None:
    names = sorted(name for name in modules() if not name.endswith("__main__"))
    script = "import sys, subprocess, json\n" + (
        "results = {}\n"
        f"for name in {names!r}:\n"
        f"    out = subprocess.run([sys.executable, '-c', {PROBE!r}, name], capture_output=True, text=True)\n"
        "    ok = out.returncode == 0\n"
        "    results[name] = out.stdout.strip().splitlines()[-1] if ok else 'FAILED ' + out.stderr[-300:]\n"
        "print(json.dumps(results))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600, check=True)
    results = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(results) >= 60
    problems = {}
    for name, line in results.items():
        if line.startswith("FAILED"):
            problems[name] = line
            continue
        found = json.loads(line)
        if found["filtered"] or found["changed"] or found["registered"]:
            problems[name] = found
    assert not problems, problems
