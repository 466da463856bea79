"""MCP Apps views (the ``io.modelcontextprotocol/ui`` extension): an instance timeline for
list_background_tasks and a task card for get_background_task and wait_for_background_task.

Each view is one self-contained HTML document: ``render`` inlines the shared style sheet, the postMessage
bridge and the status vocabulary into it, so a view loads nothing from anywhere (its own CSP says so too).
Hosts without Apps never see a view (``announce``); the tools' text content is the same for every host.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

from bgtask_mcp import __version__, vocabulary
from bgtask_mcp.redaction import MASK

TIMELINE_URI = "ui://bgtask-mcp/timeline.html"
TASK_CARD_URI = "ui://bgtask-mcp/task-card.html"
FLEET_URI = "ui://bgtask-mcp/fleet.html"
VIEW_FILES = {TIMELINE_URI: "timeline.html", TASK_CARD_URI: "task_card.html", FLEET_URI: "fleet.html"}
# The view's own policy, whatever the host adds: inline script and style only, nothing fetched from anywhere
CSP = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; connect-src 'none'; " \
      "base-uri 'none'; form-action 'none'"  # fmt: skip
HEAD = (
    '<meta charset="utf-8">\n'
    f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
    '<meta name="viewport" content="width=device-width, initial-scale=1">'
)
VIEW_TITLES = {
    TIMELINE_URI: ("Instance timeline", "What ran on an instance: one bar per task, coloured by status."),
    FLEET_URI: ("Fleet timeline", "What changed across instances: one lane per instance, tasks and audit traces."),
    TASK_CARD_URI: ("Task card", "One task: status, who, when, how long, its params, progress while it runs."),
}


def tool_meta(uri: str | None) -> dict[str, object] | None:
    """The ``_meta`` a tool carries to name its view (MCP Apps ``_meta.ui.resourceUri``)."""
    return None if uri is None else {"ui": {"resourceUri": uri}}


def view_vocabulary() -> dict[str, object]:
    """What the views need to know of DMS words and of masking, from the one place each is defined."""
    return {
        "statuses": {
            name: {"meaning": s.meaning, "terminal": s.terminal, "succeeded": s.succeeded}
            for name, s in vocabulary.STATUSES.items()
        },
        "unknown_status": vocabulary.UNKNOWN_STATUS,
        "task_names": {name: vocabulary.meaning_of(name) for name in vocabulary.DOCUMENTED_NAMES},
        "undocumented_name": vocabulary.UNDOCUMENTED_NAME,
        "step_statuses": vocabulary.STEP_STATUSES,
        "mask": MASK,
        "version": __version__,
    }


def _asset(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


@cache
def render(uri: str) -> str:
    """The complete HTML document of the view at ``uri``."""
    page = _asset(VIEW_FILES[uri])
    data = json.dumps(view_vocabulary(), ensure_ascii=False).replace("</", "<\\/")  # never ends the script
    parts = {
        "<!--bgtask:head-->": HEAD,
        "/*bgtask:style*/": _asset("view.css"),
        "/*bgtask:bridge*/": _asset("bridge.js"),
        "/*bgtask:vocabulary*/": f"const VOCABULARY = {data};",
    }
    for marker, text in parts.items():
        if marker not in page:
            raise RuntimeError(f"{VIEW_FILES[uri]} lacks {marker}")
        page = page.replace(marker, text)
    return page
