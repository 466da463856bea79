"""The README and the documents under docs/ are the product's manual: they must not drift from the code. Every
setting, tool, fault kind and module is named where a reader looks for it, every link between them resolves,
the README stays a page a newcomer reads, and the benchmark table has its place (rewritten by a full run)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from bgtask_mcp.settings_env import VARIABLES
from bgtask_mcp.simulator.faults import FAULT_KINDS
from bgtask_mcp.tools import TOOLS

ROOT = Path(__file__).resolve().parent.parent
MANUAL = ["README.md", "CONTRIBUTING.md", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md"))]
README_MAX_LINES = 250


def read(name: str) -> str:
    return (ROOT / name).read_text(encoding="utf-8")


def section(name: str, title: str) -> str:
    text = read(name)
    start = text.index(f"\n## {title}")
    following = text.find("\n## ", start + 1)
    return text[start : following if following > 0 else len(text)]


def test_the_readme_is_a_page_a_newcomer_reads() -> None:
    readme = read("README.md")
    assert readme.count("\n") <= README_MAX_LINES
    for needed in ("## Quick start", "python3 tasks.py demo", "python3 tasks.py test", "## Install",
                   "## Tools at a glance", "## Configuration in brief", "## Read on"):  # fmt: skip
        assert needed in readme, needed
    assert not [spec.name for spec in TOOLS if f"[`{spec.name}`](docs/tools.md#{spec.name})" not in readme]


def test_every_setting_is_in_the_configuration_table() -> None:
    table = section("docs/configuration.md", "Configuration")
    assert not [v.name for v in VARIABLES if f"`{v.name}`" not in table]


def test_every_tool_has_its_own_heading() -> None:
    tools = read("docs/tools.md")
    assert not [spec.name for spec in TOOLS if f"\n### {spec.name}\n" not in tools]


def test_every_fault_kind_is_in_the_fault_table() -> None:
    operations = read("docs/operations.md")
    table = operations[operations.index("### Fault injection") :]
    assert not [kind for kind in FAULT_KINDS if f"| `{kind}` |" not in table]


def test_the_development_layout_names_every_module() -> None:
    layout = section("CONTRIBUTING.md", "Development")
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
    performance = read("docs/performance.md")
    start, end = performance.find("<!-- bench:targets -->"), performance.find("<!-- /bench:targets -->")
    assert 0 <= start < end
    assert "| Per-call latency: stdio, 2025-11-25 |" in performance[start:end]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower().replace("`", ""))
    return text.replace(" ", "-")


def anchors_of(file: Path) -> set[str]:
    text = re.sub(r"(?ms)^```.*?^```", "", file.read_text(encoding="utf-8"))  # a "# comment" in code is no heading
    return {slug(h) for h in re.findall(r"(?m)^#{1,6} (.+)$", text)}


@pytest.mark.parametrize("name", MANUAL)
def test_every_link_between_the_documents_resolves(name: str) -> None:
    text = re.sub(r"(?ms)^```.*?^```", "", read(name))
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):
            continue  # https:, mailto:
        path, _, anchor = target.partition("#")
        file = ((ROOT / name).parent / path).resolve() if path else ROOT / name
        missing_anchor = file.exists() and file.suffix == ".md" and anchor and anchor not in anchors_of(file)
        if not file.exists() or missing_anchor:
            broken.append(target)
    assert not broken, f"{name}: {broken}"


def test_the_one_click_install_links_start_the_simulator_through_uvx() -> None:
    """VS Code's and Cursor's install links carry the server's launch configuration (URL-encoded JSON and
    base64 JSON): each must decode to the uvx command the uvx test runs (from a wheel there)."""
    import base64
    import json
    from urllib.parse import parse_qs, urlsplit

    wanted = ["--from", "git+https://github.com/bgtask-mcp/bgtask-mcp", "bgtask-mcp", "serve", "--simulator"]
    links = re.findall(r"\]\((https://(?:insiders\.)?vscode\.dev/redirect/mcp/install\?[^)]+|https://cursor\.com/"
                       r"en/install-mcp\?[^)]+)\)", read("README.md"))  # fmt: skip
    assert len(links) == 3, links
    for link in links:
        query = parse_qs(urlsplit(link).query)
        assert query["name"] == ["dms-tasks"]
        raw = query["config"][0]
        config = json.loads(raw if "vscode" in link else base64.b64decode(raw))
        assert config["command"] == "uvx" and config["args"] == wanted, link


def test_the_configuration_table_is_made_from_the_settings_table() -> None:
    """docs/configuration.md shows exactly the rows ``serve --help`` is made from (the variable, its flag, its
    meaning); regenerate with BGTASK_UPDATE_SNAPSHOTS=1 after changing bgtask_mcp/settings_env.py."""
    import os

    from bgtask_mcp.settings_env import markdown_table

    doc = read("docs/configuration.md")
    start = doc.index("\n", doc.index("<!-- settings:table")) + 1
    end = doc.index("<!-- /settings:table -->")
    if os.environ.get("BGTASK_UPDATE_SNAPSHOTS") == "1":
        (ROOT / "docs" / "configuration.md").write_text(doc[:start] + markdown_table() + "\n" + doc[end:])
        doc = read("docs/configuration.md")
        end = doc.index("<!-- /settings:table -->")
    assert doc[start:end] == markdown_table() + "\n"


def reference_of(tools: list[Any]) -> str:
    """The tools' arguments as tables, from the live tools/list (what every client reads)."""
    lines: list[str] = []
    for tool in tools:
        schema = tool.input_schema
        required = set(schema.get("required", []))
        lines += [f"### `{tool.name}`: arguments", "", f"{tool.title}. Read-only: {tool.annotations.read_only_hint}; "
                  f"idempotent: {tool.annotations.idempotent_hint}.", "",
                  "| argument | type | required | default | what it is |", "|---|---|---|---|---|"]  # fmt: skip
        for name, prop in schema["properties"].items():
            branch = next((b for b in prop.get("anyOf", []) if b.get("type") != "null"), prop)
            kind = branch.get("type", "any") + (f" ({', '.join(branch['enum'])})" if "enum" in branch else "")
            default = prop.get("default")
            shown = "" if default is None or name in required else f"`{json.dumps(default)}`"
            description = (branch.get("description") or prop.get("description") or "").replace("|", "\\|")
            lines.append(f"| `{name}` | {kind} | {'yes' if name in required else 'no'} | {shown} | {description} |")
        fields = ", ".join(f"`{f}`" for f in (tool.output_schema or {}).get("properties", {}))
        lines += ["", f"Answers (`structuredContent`): {fields}.", ""]
    return "\n".join(lines).rstrip() + "\n"


@pytest.mark.anyio
async def test_the_tool_reference_is_made_from_the_live_tools_list() -> None:
    """docs/tools.md's reference section is tools/list as clients see it (default settings, one cloud);
    regenerate with BGTASK_UPDATE_SNAPSHOTS=1 after a schema change."""
    import os

    from mcp import Client

    from bgtask_mcp.config import load_settings
    from bgtask_mcp.server import build_server

    async with Client(build_server(load_settings({"BGTASK_REGION": "eu-de"})), mode="legacy") as client:
        tools = (await client.list_tools()).tools
    made = reference_of(tools)
    doc = read("docs/tools.md")
    start = doc.index("\n", doc.index("<!-- tools:reference")) + 1
    end = doc.index("<!-- /tools:reference -->")
    if os.environ.get("BGTASK_UPDATE_SNAPSHOTS") == "1":
        (ROOT / "docs" / "tools.md").write_text(doc[:start] + made + doc[end:], encoding="utf-8")
        doc = read("docs/tools.md")
        end = doc.index("<!-- /tools:reference -->")
    assert doc[start:end] == made
