"""The README is the product's manual: it must not drift from the code. Every setting, tool, fault kind and
module it should name is named, and the benchmark table has its place (rewritten by a full bench run)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from bgtask_mcp.settings_env import VARIABLES
from bgtask_mcp.simulator.faults import FAULT_KINDS
from bgtask_mcp.tools import TOOLS

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def section(title: str) -> str:
    start = README.index(f"\n## {title}")
    following = README.find("\n## ", start + 1)
    return README[start : following if following > 0 else len(README)]


def test_every_setting_is_in_the_configuration_table() -> None:
    table = section("Configuration")
    assert not [v.name for v in VARIABLES if f"`{v.name}`" not in table]


def test_every_tool_has_its_own_heading() -> None:
    assert not [spec.name for spec in TOOLS if f"\n### {spec.name}\n" not in README]


def test_every_fault_kind_is_in_the_fault_table() -> None:
    table = README[README.index("### Fault injection") :]
    assert not [kind for kind in FAULT_KINDS if f"| `{kind}` |" not in table]


def test_the_development_layout_names_every_module() -> None:
    layout = section("Development")
    tracked = subprocess.run(["git", "ls-files", "bgtask_mcp"], cwd=ROOT, capture_output=True, text=True, check=True)
    files = [Path(name) for name in tracked.stdout.split()]
    missing = []
    for path in files:
        if path.parts[1] == "views":  # one line says what the folder holds
            continue
        name = path.name if path.parent.name == "bgtask_mcp" else path.stem
        if name != "__init__.py" and not re.search(rf"\b{re.escape(name)}\b", layout):
            missing.append(str(path))
    assert not missing, f"the Development layout does not name: {missing}"


def test_the_benchmark_table_has_its_place() -> None:
    performance = section("Performance")
    start, end = performance.find("<!-- bench:targets -->"), performance.find("<!-- /bench:targets -->")
    assert 0 <= start < end
    assert "| Per-call latency: stdio, 2025-11-25 |" in performance[start:end]
