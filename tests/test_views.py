"""The MCP Apps views in a real headless browser (Debian's chromium, driven by Playwright): tests/views/host.html
plays the host, the view gets a real tool result (an MCP client with Apps support, the server, signed HTTP to
a simulator of its own) over postMessage, and the tests assert what the DOM shows: one bar per task coloured
by its status, running tasks drawn up to now, the task card with its progress, masked secrets still masked,
markup in DMS data shown as text. Screenshots go to the test output; with BGTASK_UPDATE_SCREENSHOTS=1 they
also replace the README's pictures in docs/images/.

The announcement is tested too: only a client that negotiated the extension sees ``_meta.ui`` and the
``ui://`` resources, and every client gets the same text content."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.client.extension import advertise
from mcp.types import TextContent
from playwright.async_api import FrameLocator, Page, async_playwright, expect

from bgtask_mcp.server import build_server
from bgtask_mcp.simulator import data
from bgtask_mcp.views import FLEET_URI, TASK_CARD_URI, TIMELINE_URI

from .conftest import Simulator, emitted, fast_settings, sim_env, start_simulator_process
from .external import apt_binary

pytestmark = pytest.mark.anyio

HOST_PAGE = Path(__file__).parent / "views" / "host.html"
IMAGES = Path(__file__).resolve().parent.parent / "docs" / "images"
APPS = advertise("io.modelcontextprotocol/ui", {"mimeTypes": ["text/html;profile=mcp-app"]})
CHROMIUM_FLAGS = ["--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]  # fmt: skip
SHOWN = 30_000  # ms: a cap that turns a view that never renders into a failure, not a timing assumption
KIND = {"SUCCESS": "s-success", "FAILED": "s-failed", "DELETED": "s-deleted", "CANCELLED": "s-cancelled",
        "CREATED": "s-running", "EXECUTING": "s-running"}  # fmt: skip


@pytest.fixture(scope="module")
def world() -> Iterator[Simulator]:
    """A simulator of its own: the views see the seeded world only, whatever other tests created elsewhere."""
    sim = start_simulator_process()
    try:
        yield sim
    finally:
        sim.process.kill()
        sim.process.wait(timeout=10)


@asynccontextmanager
async def apps_client(world: Simulator, apps: bool = True) -> AsyncIterator[Client]:
    async with Client(build_server(fast_settings(sim_env(world))), extensions=[APPS] if apps else []) as client:
        yield client


@asynccontextmanager
async def browser() -> AsyncIterator[Page]:
    chromium = apt_binary("chromium", "chromium")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        try:
            page = await launched.new_page(viewport={"width": 980, "height": 900}, device_scale_factor=1)
            await page.goto(HOST_PAGE.as_uri())
            yield page
        finally:
            await launched.close()


@dataclass
class View:
    page: Page
    frame: FrameLocator
    result: dict[str, Any]


async def open_view(page: Page, client: Client, tool: str, arguments: dict[str, Any], *, serve_tools: bool = False,
                    deliver: bool = True) -> View:  # fmt: skip
    """What a host does: find the tool's view in tools/list, read it, call the tool, hand the view the result."""
    tools = {t.name: t for t in (await client.list_tools()).tools}
    uri = (tools[tool].meta or {})["ui"]["resourceUri"]
    (content,) = (await client.read_resource(uri)).contents
    assert content.mime_type == "text/html;profile=mcp-app"

    async def proxy(name: str, args: dict[str, Any]) -> dict[str, Any]:
        return wire(await client.call_tool(name, args))

    await page.expose_function("bgtaskCallTool", proxy)
    result = wire(await client.call_tool(tool, arguments)) if deliver else {}
    config = {"html": getattr(content, "text", ""), "input": arguments, "serverTools": serve_tools,
              "tool": tools[tool].model_dump(by_alias=True, mode="json", exclude_none=True),
              "result": result or None}  # fmt: skip
    await page.evaluate("config => window.startHost(config)", config)
    return View(page, page.frame_locator("#view"), result)


def wire(result: Any) -> dict[str, Any]:
    dumped: dict[str, Any] = result.model_dump(by_alias=True, mode="json", exclude_none=True)
    return dumped


async def screenshot(view: View, name: str) -> None:
    path = emitted(name)
    await view.page.locator("#view").screenshot(path=str(path))
    if os.environ.get("BGTASK_UPDATE_SCREENSHOTS") == "1":
        IMAGES.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, IMAGES / name)


def ago(hours: float) -> str:
    return (datetime.now(UTC) - timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- the timeline ---------------------------------------------------------------------------------------------


async def test_the_timeline_draws_each_task_as_a_bar_coloured_by_status(world: Simulator) -> None:
    async with apps_client(world) as client, browser() as page:
        view = await open_view(page, client, "list_background_tasks",
                               {"instance_id": data.KAFKA.id, "begin_time": ago(27), "limit": 50})  # fmt: skip
        tasks = {task["id"]: task for task in view.result["structuredContent"]["tasks"]}
        bars = view.frame.locator(".bar")
        await expect(bars).to_have_count(len(tasks), timeout=SHOWN)
        drawn = await bars.evaluate_all(
            """bars => bars.map(b => {
                 const bar = b.getBoundingClientRect(), track = b.parentElement.getBoundingClientRect();
                 return [b.dataset.taskId, b.dataset.status, b.className, track.right - bar.right, bar.width]; })"""
        )
        assert {task_id for task_id, *_ in drawn} == set(tasks)
        assert {"SUCCESS", "FAILED"} <= {status for _, status, *_ in drawn}
        for task_id, status, classes, gap, width in drawn:
            assert status == tasks[task_id]["status"] and KIND[status] in classes.split()
            assert width >= 6, "a short task is still a visible bar"
            if KIND[status] in ("s-running", "s-unknown"):  # still running: drawn up to now, the right end
                assert "live" in classes.split() and gap < 2
        failed = view.frame.locator(f'.bar[data-task-id="{data.FAILED_TASK_ID}"]')
        await failed.hover()
        await expect(view.frame.locator("#tip")).to_contain_text("changeRetentionPolicy")
        await expect(view.frame.locator("#tip")).to_contain_text("Finished with an error")
        await failed.click()
        panel = view.frame.locator(".panel")
        await expect(panel).to_contain_text("produce_reject")
        await expect(panel).to_contain_text("ci-deployer")
        await expect(view.frame.locator("footer")).to_contain_text(
            f"of {view.result['structuredContent']['task_count']}"
        )
        await page.mouse.move(0, 0)  # the picture shows the pinned details, not the tooltip
        await expect(view.frame.locator("#tip")).to_have_count(0)
        await screenshot(view, "timeline.png")


async def test_masked_secrets_stay_masked_in_every_part_of_the_timeline(world: Simulator) -> None:
    async with apps_client(world) as client, browser() as page:
        view = await open_view(page, client, "list_background_tasks", {"instance_id": data.KAFKA.id,
                               "begin_time": ago(24 * 4), "end_time": ago(45), "limit": 50})  # fmt: skip
        names = [task["name"] for task in view.result["structuredContent"]["tasks"]]
        assert "modifyUserPassword" in names and len(names) >= len(data.SECRET_PARAMS)
        bars = view.frame.locator(".bar")
        await expect(bars).to_have_count(len(names), timeout=SHOWN)
        seen = []
        for index in range(len(names)):
            await bars.nth(index).hover()
            await bars.nth(index).click()
            await expect(view.frame.locator(".panel")).to_be_visible()
            seen.append(await view.frame.locator("html").evaluate("root => root.outerHTML + root.innerText"))
        everything = "\n".join(seen)
        for marker in (*data.SEEDED_SECRETS, "Sup3r-S3cret!"):
            assert marker not in everything
        assert everything.count("p-masked") >= len(data.SECRET_PARAMS)


async def test_markup_in_dms_data_is_shown_as_text(world: Simulator) -> None:
    name = '<img src=x onerror="window.pwned=1">'
    world.create_task(instance_id=data.SCRATCH.id, name=name, manual=True, status="SUCCESS",
                      params={"note": "<script>window.pwned=2</script><b>bold</b>"})  # fmt: skip
    async with apps_client(world) as client, browser() as page:
        view = await open_view(page, client, "list_background_tasks", {"instance_id": data.SCRATCH.id})
        await expect(view.frame.locator(".label").first).to_contain_text(name, timeout=SHOWN)
        await view.frame.locator(".bar").first.click()
        await expect(view.frame.locator(".panel")).to_contain_text("<script>window.pwned=2</script><b>bold</b>")
        frame = page.frame_locator("#view")
        assert await frame.locator("img, b, .panel script").count() == 0
        assert await frame.locator("html").evaluate("() => window.pwned === undefined")


async def test_planned_tasks_are_drawn_right_of_now(world: Simulator) -> None:
    async with apps_client(world) as client, browser() as page:
        view = await open_view(page, client, "list_background_tasks", {"instance_id": data.KAFKA.id, "scheduled": True})
        planned = view.frame.locator(f'.bar[data-task-id="{data.PLANNED_REASSIGN_ID}"]')
        await expect(planned).to_have_attribute("data-planned", "true", timeout=SHOWN)
        await expect(planned).to_have_class(re.compile(r"\bplanned\b"))
        cancelled = view.frame.locator(f'.bar[data-task-id="{data.CANCELLED_RESTART_ID}"]')
        now = view.frame.locator(".now").first
        x = {
            "planned": (await planned.bounding_box() or {"x": 0.0})["x"],
            "cancelled": (await cancelled.bounding_box() or {"x": 0.0})["x"],
            "now": (await now.bounding_box() or {"x": 0.0})["x"],
        }
        assert x["cancelled"] < x["now"] < x["planned"], x
        await expect(view.frame.locator(".dur", has_text="planned")).to_have_count(1)
        await planned.click()
        await expect(view.frame.locator(".panel")).to_contain_text("Scheduled for")


# -- the fleet timeline -----------------------------------------------------------------------------------


async def test_the_fleet_timeline_draws_one_lane_per_instance(world: Simulator) -> None:
    async with apps_client(world) as client, browser() as page:
        view = await open_view(page, client, "list_changes", {"region": "eu-nl,eu-de", "since": "24h", "limit": 200})
        changes = view.result["structuredContent"]["changes"]
        lanes = view.frame.locator(".lane")
        names = {c["instance_name"] for c in changes}
        await expect(lanes).to_have_count(len({(c["region"], c["instance_id"]) for c in changes}), timeout=SHOWN)
        labels = await view.frame.locator(".label").all_inner_texts()
        assert names <= {line.split("\n")[0] for line in labels}  # each lane named, not only its id
        marks = view.frame.locator(".mark")
        assert await marks.count() == len([c for c in changes if c["source"] == "trace"])
        joined = [c for c in changes if c["task_id"] and c["trace_id"]]
        assert joined and await view.frame.locator(".bar.joined").count() == len(joined)  # one bar, not two
        planned = view.frame.locator('.bar[data-planned="true"]')
        assert await planned.count() == len(
            [c for c in changes if c["source"] == "scheduled" and c["status"] == "CREATED"]
        )
        now_x = (await view.frame.locator(".now").first.bounding_box() or {"x": 0.0})["x"]
        for index in range(await planned.count()):
            assert (await planned.nth(index).bounding_box() or {"x": 0.0})["x"] > now_x  # right of now
        failed = view.frame.locator('.mark[data-status="FAILED"]').first
        await failed.dispatch_event("click")  # a mark may sit under a bar of the same lane
        await expect(view.frame.locator(".panel")).to_contain_text("FAILED")
        await expect(view.frame.locator(".panel")).to_contain_text("Who")
        user = view.frame.locator(".mark[data-key]").filter(has_text="")
        assert await user.count() >= 1
        html = await view.frame.locator("html").evaluate("root => root.outerHTML + root.innerText")
        for marker in data.SEEDED_SECRETS:
            assert marker not in html
        await screenshot(view, "fleet.png")


# -- the task card ----------------------------------------------------------------------------------------


async def test_the_task_card_shows_status_who_when_how_long_and_params(world: Simulator) -> None:
    async with apps_client(world) as client, browser() as page:
        view = await open_view(page, client, "get_background_task",
                               {"instance_id": data.KAFKA.id, "task_id": data.FAILED_TASK_ID})  # fmt: skip
        card = view.frame.locator(".card")
        await expect(card).to_contain_text("changeRetentionPolicy", timeout=SHOWN)
        await expect(view.frame.locator(".title .badge")).to_have_text("FAILED")
        for shown in ("ci-deployer", "41.5 s", data.FAILED_TASK_ID, "produce_reject", "time_base", "eu-de"):
            await expect(card).to_contain_text(shown)
        meter = view.frame.locator('[role="progressbar"]')
        await expect(meter).to_have_attribute("aria-valuenow", "100")
        await expect(meter).to_have_class("progress s-failed")


async def test_a_wait_shows_the_task_live_then_its_final_percentage(world: Simulator) -> None:
    task = world.create_task(instance_id=data.SCRATCH.id, name="resizeInstance", manual=True, status="EXECUTING",
                             progress_steps=["pre_check", "broker_expansion"],
                             params={"new_broker_num": 5, "new_storage_space": 1200})  # fmt: skip
    args = {"instance_id": data.SCRATCH.id, "task_id": task, "timeout_seconds": 30, "poll_interval_seconds": 0.5}
    async with apps_client(world) as client, browser() as page:
        view = await open_view(page, client, "wait_for_background_task", args, serve_tools=True, deliver=False)
        await expect(view.frame.locator(".title .badge")).to_have_text("EXECUTING", timeout=SHOWN)  # read by the view
        meter = view.frame.locator('[role="progressbar"]')
        await expect(meter).to_have_class("progress s-running")  # the view's own read brought DMS's 0%
        await expect(meter).to_have_attribute("aria-valuenow", "0")
        await expect(view.frame.locator(".steps li")).to_have_count(2)
        calls = await page.evaluate("() => window.fromView.filter(m => m.method === 'tools/call').map(m => m.params)")
        assert calls[0] == {
            "name": "get_background_task",
            "arguments": {"instance_id": data.SCRATCH.id, "task_id": task},
        }

        world.steer(task, progress=50)
        waited = wire(await client.call_tool("wait_for_background_task", {**args, "timeout_seconds": 0.5}))
        progress = waited["structuredContent"]["progress"]
        assert progress["percentage"] == 50 and not waited["structuredContent"]["finished"]
        await page.evaluate("result => window.deliverResult(result)", waited)
        await expect(meter).to_have_attribute("aria-valuenow", "50", timeout=SHOWN)
        await expect(view.frame.locator(".card")).to_contain_text("50% done")
        steps = view.frame.locator(".steps li")  # the steps as DMS reports them, with their states
        await expect(steps).to_have_count(2)
        await expect(steps.nth(0)).to_contain_text("pre_check")
        await expect(steps.nth(0)).to_contain_text("COMPLETED")
        await expect(steps.nth(1)).to_contain_text("broker_expansion")
        await expect(steps.nth(1)).to_contain_text("IN_PROGRESS")
        await screenshot(view, "task-card.png")

        world.steer(task, status="SUCCESS", progress=100)
        done = wire(await client.call_tool("wait_for_background_task", args))
        await page.evaluate("result => window.deliverResult(result)", done)
        await expect(view.frame.locator(".title .badge")).to_have_text("SUCCESS", timeout=SHOWN)
        await expect(meter).to_have_attribute("aria-valuenow", "100")
        await expect(view.frame.locator(".summary")).to_contain_text("finished successfully")


async def test_a_host_that_cannot_call_tools_is_never_asked(world: Simulator) -> None:
    task = world.create_task(instance_id=data.SCRATCH.id, manual=True, status="EXECUTING")
    async with apps_client(world) as client, browser() as page:
        view = await open_view(page, client, "get_background_task", {"instance_id": data.SCRATCH.id, "task_id": task})
        await expect(view.frame.locator(".title .badge")).to_have_text("EXECUTING", timeout=SHOWN)
        sent = await page.evaluate("() => window.fromView.map(m => m.method)")
        assert sent[:2] == ["ui/initialize", "ui/notifications/initialized"] and "tools/call" not in sent
        meter = view.frame.locator('[role="progressbar"]')  # DMS reports no percentage for it: none is made up
        await expect(meter).to_have_class("progress s-running indeterminate")
        assert await meter.get_attribute("aria-valuenow") is None


# -- who is told about the views --------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_only_clients_with_apps_are_told_about_the_views(world: Simulator, mode: str) -> None:
    settings = fast_settings(sim_env(world))
    texts = []
    for extensions in ([APPS], []):
        async with Client(build_server(settings), mode=mode, extensions=extensions) as client:  # type: ignore[arg-type]
            tools = {t.name: (t.meta or {}).get("ui") for t in (await client.list_tools()).tools}
            resources = {str(r.uri) for r in (await client.list_resources()).resources}
            result = await client.call_tool("get_background_task", {"instance_id": data.KAFKA.id,
                                                                     "task_id": data.EXAMPLE_TASK_ID})  # fmt: skip
            texts.append([block.text for block in result.content if isinstance(block, TextContent)])
        if extensions:
            assert tools["list_background_tasks"] == {"resourceUri": TIMELINE_URI}
            assert tools["get_background_task"] == tools["wait_for_background_task"] == {"resourceUri": TASK_CARD_URI}
            assert tools["list_changes"] == {"resourceUri": FLEET_URI}
            assert {TIMELINE_URI, TASK_CARD_URI, FLEET_URI} <= resources
        else:
            assert set(tools.values()) == {None} and not [r for r in resources if r.startswith("ui://")]
    assert texts[0] == texts[1] and "bindInstancePublicIp" in texts[0][0]  # the same complete text for both


async def test_each_view_is_one_document_that_loads_nothing(world: Simulator) -> None:
    async with apps_client(world) as client:
        for uri in (TIMELINE_URI, TASK_CARD_URI, FLEET_URI):
            (content,) = (await client.read_resource(uri)).contents
            html = getattr(content, "text", "")
            assert "default-src 'none'" in html and "connect-src 'none'" in html
            for external in ('src="http', 'href="http', "@import", "url(http", "fetch(", "XMLHttpRequest"):
                assert external not in html, (uri, external)
            assert (content.meta or {})["ui"]["csp"] == {"connectDomains": [], "resourceDomains": [],
                                                          "frameDomains": [], "baseUriDomains": []}  # fmt: skip
