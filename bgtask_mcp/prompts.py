"""MCP prompts loaded from Markdown files with a TOML header (``prompts/*.md``).

In a wheel the files live in ``bgtask_mcp/prompts/``; in a source checkout, in ``prompts/`` beside
the package. The header names the prompt and its arguments; the body is the message, with
``{argument}`` placeholders.
"""

from __future__ import annotations

import re
import tomllib
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from mcp.server.mcpserver.prompts.base import Prompt, PromptArgument
from mcp.shared.exceptions import MCPError
from mcp.types import INVALID_PARAMS

_HEADER = re.compile(r"\A\+\+\+\n(.*?)\n\+\+\+\n", re.DOTALL)
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


def prompt_dir() -> Traversable:
    packaged = resources.files("bgtask_mcp") / "prompts"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "prompts"  # source checkout / editable install


class FilePrompt(Prompt):
    """A prompt whose missing arguments are a clear protocol error (the SDK would answer "Internal server error")."""

    async def render(self, arguments: dict[str, Any] | None, context: Any) -> Any:
        given = {k for k, v in (arguments or {}).items() if v not in (None, "")}
        missing = [a.name for a in self.arguments or [] if a.required and a.name not in given]
        if missing:
            described = "; ".join(f"{a.name}: {a.description}" for a in self.arguments or [] if a.name in missing)
            raise MCPError(INVALID_PARAMS, f"prompt {self.name} needs {', '.join(missing)} ({described})")
        return await super().render(arguments, context)


def parse_prompt(text: str, source: str) -> Prompt:
    match = _HEADER.match(text)
    if not match:
        raise ValueError(f"{source}: a prompt file starts with a +++ TOML header +++")
    header: dict[str, Any] = tomllib.loads(match.group(1))
    body = text[match.end() :].strip()
    arguments = [
        PromptArgument(name=a["name"], description=a.get("description"), required=bool(a.get("required", False)))
        for a in header.get("arguments", [])
    ]
    names = {a.name for a in arguments}
    unknown = set(_PLACEHOLDER.findall(body)) - names
    if unknown:
        raise ValueError(f"{source}: placeholders without an argument: {sorted(unknown)}")
    defaults: dict[str, str] = {a["name"]: str(a.get("default", "")) for a in header.get("arguments", [])}

    def render(**kwargs: Any) -> str:
        values = {**defaults, **{k: str(v) for k, v in kwargs.items() if v not in (None, "")}}
        return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), "") or "(not given)", body)

    return FilePrompt(
        name=header["name"],
        title=header.get("title"),
        description=header.get("description"),
        arguments=arguments,
        fn=render,
        context_kwarg=None,
    )


def load_prompts() -> list[Prompt]:
    folder = prompt_dir()
    files = sorted((f for f in folder.iterdir() if f.name.endswith(".md")), key=lambda f: f.name)
    return [parse_prompt(f.read_text(encoding="utf-8"), f.name) for f in files]
