"""Build the MCP Bundle (``dist/bgtask-mcp-<version>.mcpb``) that Claude Desktop installs in one click.

The bundle is the uv runtime kind: the server's source, ``pyproject.toml`` and a ``manifest.json``; the host's uv
installs the dependencies. The manifest is generated here from the code (version, tools, prompts, the settings it
asks for), then checked and packed by the pinned ``@anthropic-ai/mcpb`` CLI (``deploy/mcpb/package.json``).

python deploy/build_mcpb.py [output directory]      # prints the bundle's path
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bgtask_mcp import __version__  # noqa: E402 - after the path: the build runs from a checkout
from bgtask_mcp.prompts import load_prompts  # noqa: E402
from bgtask_mcp.tools import TOOLS  # noqa: E402

CLI_PROJECT = ROOT / "deploy" / "mcpb"
# what the host asks for at install time, and the setting each value becomes (secrets stored by the host's keychain)
USER_CONFIG: dict[str, tuple[str, dict[str, Any]]] = {
    "region": ("BGTASK_REGION", {"type": "string", "title": "Region", "required": True, "default": "eu-de",
                                 "description": "The default region, e.g. eu-de, eu-nl (Open Telekom Cloud) or "
                                                "ap-southeast-1 (Huawei Cloud); every call may name another."}),
    "access_key": ("BGTASK_ACCESS_KEY", {"type": "string", "title": "Access key (AK)", "required": True,
                                         "sensitive": True, "description": "The access key of an IAM user allowed "
                                                                           "to read DMS (and CTS, for who did what)."}),
    "secret_key": ("BGTASK_SECRET_KEY", {"type": "string", "title": "Secret key (SK)", "required": True,
                                         "sensitive": True, "description": "The secret key of that access key."}),
}  # fmt: skip
SHIPPED = ("bgtask_mcp", "prompts", "pyproject.toml", "README.md", "LICENSE")
LEFT_OUT = ("__pycache__", "*.pyc")


def manifest() -> dict[str, Any]:
    return {
        "manifest_version": "0.4",
        "name": "bgtask-mcp",
        "display_name": "DMS background tasks",
        "version": __version__,
        "description": "What happened to that change on my Kafka, RabbitMQ or RocketMQ instance? Background tasks "
        "and the audit trail of Distributed Message Service on Open Telekom Cloud and Huawei Cloud.",
        "author": {"name": "bgtask-mcp maintainers"},
        "repository": {"type": "git", "url": "https://github.com/bgtask-mcp/bgtask-mcp"},
        "homepage": "https://github.com/bgtask-mcp/bgtask-mcp",
        "license": "Apache-2.0",
        "keywords": ["dms", "kafka", "rabbitmq", "rocketmq", "open-telekom-cloud", "huawei-cloud"],
        "server": {
            "type": "uv",
            "entry_point": "bgtask_mcp/__main__.py",
            "mcp_config": {
                "command": "uv",
                "args": ["run", "--directory", "${__dirname}", "--no-dev", "bgtask-mcp", "serve"],
                "env": {variable: f"${{user_config.{key}}}" for key, (variable, _) in USER_CONFIG.items()},
            },
        },
        "tools": [{"name": spec.name, "description": spec.title} for spec in TOOLS],
        "prompts": [prompt_entry(p) for p in load_prompts()],
        "compatibility": {"platforms": ["darwin", "linux", "win32"], "runtimes": {"python": ">=3.11"}},
        "user_config": {key: spec for key, (_, spec) in USER_CONFIG.items()},
    }


def prompt_entry(prompt: Any) -> dict[str, Any]:
    """A prompt as the manifest lists it: its arguments, and its text with ``${arguments.name}`` placeholders."""
    names = [a.name for a in prompt.arguments or []]
    text = prompt.fn(**{name: f"${{arguments.{name}}}" for name in names})
    return {"name": prompt.name, "description": prompt.description or prompt.name, "arguments": names, "text": text}


def mcpb_cli() -> Path:
    """The pinned CLI, installed under .tools/ on first use."""
    sys.path.insert(0, str(ROOT / "tests"))
    from external import npm_project  # type: ignore[import-not-found]

    return Path(npm_project(CLI_PROJECT, "mcpb")) / "node_modules" / ".bin" / "mcpb"


def build(out_dir: Path) -> Path:
    cli = mcpb_cli()
    out_dir.mkdir(parents=True, exist_ok=True)
    bundle = out_dir / f"bgtask-mcp-{__version__}.mcpb"
    with tempfile.TemporaryDirectory(prefix="bgtask-mcpb-") as staging_name:
        staging = Path(staging_name)
        for name in SHIPPED:
            source = ROOT / name
            if source.is_dir():
                shutil.copytree(source, staging / name, ignore=shutil.ignore_patterns(*LEFT_OUT))
            elif source.exists():
                shutil.copy2(source, staging / name)
        (staging / "manifest.json").write_text(json.dumps(manifest(), indent=2) + "\n", encoding="utf-8")
        for step in (["validate", str(staging / "manifest.json")], ["pack", str(staging), str(bundle)]):
            done = subprocess.run([str(cli), *step], capture_output=True, text=True, timeout=300)  # noqa: S603 - pinned CLI
            if done.returncode != 0:
                raise SystemExit(f"mcpb {step[0]} failed: {done.stdout[-2000:]}{done.stderr[-2000:]}")
    return bundle


if __name__ == "__main__":
    print(build(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "dist"))
