"""The HTTP transport as an OAuth 2.1 resource server, against a real OpenID provider (oidc-provider, OpenID
certified) started on loopback: client-credentials JWTs are accepted, and every bad token (expired, another
audience, another issuer, unsigned, tampered, without the scope) is refused with the right status and nothing
said about why. Clients discover the issuer from the 401 (RFC 9728)."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from bgtask_mcp.config import load_settings
from bgtask_mcp.simulator import data

from .conftest import Simulator, clean_env, emitted, sim_env
from .external import apt_binary, npm_project
from .servers import HttpServer, call_tool, eventually, free_port, start_server

pytestmark = pytest.mark.anyio

PROVIDER_SOURCE = Path(__file__).parent / "oidc"
TOOL = "get_background_task"


@dataclass
class Provider:
    issuer: str
    process: subprocess.Popen[str]

    def token(self, resource: str, client: str = "test-client", secret: str = "test-secret",
              scope: str = "dms:read") -> str:  # fmt: skip
        answer = httpx2.post(
            self.issuer + "/token",
            data={"grant_type": "client_credentials", "scope": scope, "resource": resource},
            auth=(client, secret),
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
        return str(answer.json()["access_token"])

    def rotate(self) -> str:
        return str(httpx2.post(self.issuer + "/__test/rotate?drop=1", timeout=10).json()["signing_kid"])


def start_provider(name: str) -> Provider:
    directory = npm_project(PROVIDER_SOURCE, "oidc")
    node = apt_binary("node", "nodejs")
    log = emitted(f"{name}.log").open("w")
    process = subprocess.Popen([node, "provider.mjs", "0"], cwd=directory, stdout=subprocess.PIPE, stderr=log,
                               text=True)  # fmt: skip
    assert process.stdout is not None
    line = process.stdout.readline()
    match = re.match(r"OIDC READY (http://127\.0\.0\.1:\d+)", line)
    if not match:
        process.kill()
        raise AssertionError(f"the OpenID provider did not start: {line!r}")
    return Provider(match.group(1), process)


def stop(process: subprocess.Popen[Any]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    found = start_provider("oidc-provider")
    try:
        yield found
    finally:
        stop(found.process)


@pytest.fixture(scope="module")
def server(provider: Provider, simulator_process: Simulator) -> Iterator[HttpServer]:
    port = free_port()
    env = clean_env(**sim_env(simulator_process), BGTASK_OAUTH_ISSUER=provider.issuer, BGTASK_OAUTH_LEEWAY="0",
                    BGTASK_PUBLIC_URL=f"http://127.0.0.1:{port}/mcp")  # fmt: skip
    srv = start_server("oauth-server.log", env, port=port)
    try:
        yield srv
    finally:
        srv.stop()


MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-11-25",
              "capabilities": {}, "clientInfo": {"name": "oauth-test", "version": "0"}}}  # fmt: skip


def post(server: HttpServer, token: str | None) -> httpx2.Response:
    headers = {**MCP_HEADERS, **({"Authorization": f"Bearer {token}"} if token is not None else {})}
    return httpx2.post(server.mcp_url, json=INITIALIZE, headers=headers, timeout=10)


def decoded(token: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    head, body, signature = token.split(".")
    pad = lambda part: part + "=" * (-len(part) % 4)  # noqa: E731
    return json.loads(base64.urlsafe_b64decode(pad(head))), json.loads(base64.urlsafe_b64decode(pad(body))), signature


def encoded(part: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(part).encode()).decode().rstrip("=")


async def test_a_client_with_a_token_from_the_provider_calls_the_tools(server: HttpServer, provider: Provider) -> None:
    token = provider.token(server.mcp_url)
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30) as http,
        Client(streamable_http_client(server.mcp_url, http_client=http)) as client,
    ):
        assert len((await client.list_tools()).tools) == 5
        result = await client.call_tool("get_background_task", {"instance_id": data.KAFKA.id,
                                                                 "task_id": data.EXAMPLE_TASK_ID})  # fmt: skip
        assert not result.is_error
    line = server.wait_for_log_lines(1, tool="get_background_task", caller="test-client")[-1]
    assert line["status"] == "200"  # the audit names the caller: the token's subject
    assert re.search(r"call caller=test-client tool=get_background_task instance=6f1e2d3c", server.log())
    assert token not in server.log()


def test_a_401_tells_the_client_where_the_issuer_is(server: HttpServer, provider: Provider) -> None:
    refused = post(server, None)
    assert refused.status_code == 401
    challenge = refused.headers["WWW-Authenticate"]
    metadata_url = f"http://127.0.0.1:{server.port}/.well-known/oauth-protected-resource/mcp"
    assert challenge.startswith('Bearer error="invalid_token"') and f'resource_metadata="{metadata_url}"' in challenge
    for url in (metadata_url, f"http://127.0.0.1:{server.port}/.well-known/oauth-protected-resource"):
        metadata = httpx2.get(url, timeout=10).json()
        assert metadata["resource"].rstrip("/") == server.mcp_url
        assert [a.rstrip("/") for a in metadata["authorization_servers"]] == [provider.issuer]
        assert metadata["scopes_supported"] == ["dms:read"]


def test_the_provider_is_found_through_its_discovery_document(provider: Provider) -> None:
    discovery = httpx2.get(provider.issuer + "/.well-known/openid-configuration", timeout=10).json()
    assert discovery["issuer"] == provider.issuer and discovery["jwks_uri"].startswith(provider.issuer)


def refused(server: HttpServer, token: str, status: int = 401) -> httpx2.Response:
    answer = post(server, token)
    assert answer.status_code == status, answer.text
    assert token not in answer.text and "signature" not in answer.text.lower() and "expired" not in answer.text
    return answer


def test_an_expired_token_is_refused(server: HttpServer, provider: Provider) -> None:
    token = provider.token(server.mcp_url, client="short-client", secret="short-secret")  # lives 1 s
    expires = decoded(token)[1]["exp"]
    while time.time() <= expires + 1:  # the token's own expiry passing is the event
        time.sleep(0.2)
    refused(server, token)


def test_a_token_for_another_audience_is_refused(server: HttpServer, provider: Provider) -> None:
    refused(server, provider.token("https://other-service.example.test/mcp"))


def test_a_token_from_another_issuer_is_refused(server: HttpServer) -> None:
    other = start_provider("oidc-provider-other")
    try:
        refused(server, other.token(server.mcp_url))
    finally:
        stop(other.process)


def test_an_unsigned_token_is_refused(server: HttpServer, provider: Provider) -> None:
    header, claims, _ = decoded(provider.token(server.mcp_url))
    refused(server, f"{encoded({**header, 'alg': 'none'})}.{encoded(claims)}.")


def test_a_tampered_token_is_refused(server: HttpServer, provider: Provider) -> None:
    header, claims, signature = decoded(provider.token(server.mcp_url, scope="other:thing"))
    refused(server, f"{encoded(header)}.{encoded({**claims, 'scope': 'dms:read'})}.{signature}")


def test_a_token_without_the_scope_is_refused_with_403(server: HttpServer, provider: Provider) -> None:
    token = provider.token(server.mcp_url, client="other-client", secret="other-secret", scope="other:thing")
    answer = refused(server, token, status=403)
    assert 'error="insufficient_scope"' in answer.headers["WWW-Authenticate"]


def test_a_rotated_key_is_fetched_when_a_token_names_it(server: HttpServer, provider: Provider) -> None:
    assert post(server, provider.token(server.mcp_url)).status_code == 200
    kid = provider.rotate()
    token = provider.token(server.mcp_url)
    assert decoded(token)[0]["kid"] == kid
    assert post(server, token).status_code == 200  # an unknown kid: the keys were fetched again


def test_oauth_needs_no_static_token_on_a_network_bind(provider: Provider) -> None:
    env = {"BGTASK_OAUTH_ISSUER": provider.issuer, "BGTASK_PUBLIC_URL": "https://mcp.example.test/mcp"}
    settings = load_settings(env, transport="http", host="0.0.0.0")
    assert settings.http.oauth is not None and settings.http.oauth.audience == "https://mcp.example.test/mcp"
    assert settings.http.oauth.scope == "dms:read"


def test_one_caller_cannot_take_more_than_its_share(provider: Provider, simulator: Simulator) -> None:
    """Caller A's two calls hang at DMS; its third waits for a slot, then is refused without reaching DMS,
    while caller B, with slots of its own, is answered."""
    port = free_port()
    env = clean_env(**sim_env(simulator), BGTASK_OAUTH_ISSUER=provider.issuer, BGTASK_CALLER_CONCURRENCY="2",
                    BGTASK_PUBLIC_URL=f"http://127.0.0.1:{port}/mcp", BGTASK_CACHE="off",
                    # A's calls must hang for the whole test, however slowly it runs: no timeout frees a slot
                    BGTASK_READ_TIMEOUT="600", BGTASK_CALL_DEADLINE="600")  # fmt: skip
    server = start_server("oauth-fair-use.log", env, port=port)
    hanging = {"instance_id": data.KAFKA.id, "task_id": data.FAILED_TASK_ID}
    simulator.faults({"kind": "hang", "path_contains": data.FAILED_TASK_ID})
    greedy, polite = provider.token(server.mcp_url), provider.token(server.mcp_url, "second-client", "second-secret")
    results: list[dict[str, Any]] = []
    try:
        hung = [threading.Thread(target=call_until_stopped, args=(server, greedy, hanging), daemon=True)
                for _ in range(2)]  # fmt: skip
        for thread in hung:
            thread.start()
        eventually(lambda: task_requests(simulator, data.FAILED_TASK_ID) == 2, "two of A's requests at DMS")
        third = threading.Thread(target=lambda: results.append(call_tool(server, greedy, TOOL, hanging)), daemon=True)
        third.start()
        answered = call_tool(server, polite, TOOL, {"instance_id": data.KAFKA.id, "task_id": data.EXAMPLE_TASK_ID})
        assert not answered.get("isError") and answered["structuredContent"]["tasks"][0]["status"] == "SUCCESS"
        third.join(timeout=60)
        (refusal,) = results
        assert refusal["isError"] is True
        assert "this caller already had 2 DMS requests in flight" in refusal["content"][0]["text"]
        assert task_requests(simulator, data.FAILED_TASK_ID) == 2  # the refused call never reached DMS
        assert re.search(r"call caller=test-client tool=get_background_task .*outcome=CallerBusy", server.log())
    finally:
        server.stop()


def call_until_stopped(server: HttpServer, token: str, arguments: dict[str, Any]) -> None:
    with suppress(httpx2.HTTPError):  # these calls hang until the server is stopped
        call_tool(server, token, TOOL, arguments)


def task_requests(simulator: Simulator, task_id: str) -> int:
    return sum(n for key, n in simulator.stats().items() if key.startswith("GET ") and key.endswith(task_id))


# -- discovery and JWKS reads stop at their cap -------------------------------------------------------------


class EndlessMetadata(BaseHTTPRequestHandler):
    """An issuer whose discovery document never ends: chunks until the client hangs up, counting what it sent."""

    sent = 0

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        chunk = b"x" * 65536
        try:
            self.wfile.write(b'{"issuer": "')
            while EndlessMetadata.sent < 64 * 1024 * 1024:  # bounded: 64 MiB at most, whatever the client does
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                EndlessMetadata.sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.anyio
async def test_metadata_reads_stop_at_the_cap_and_the_client_closes() -> None:
    from bgtask_mcp.config import OAuthSettings
    from bgtask_mcp.http.oauth import JwtVerifier

    endless = ThreadingHTTPServer(("127.0.0.1", 0), EndlessMetadata)
    thread = threading.Thread(target=endless.serve_forever, daemon=True)
    thread.start()
    try:
        issuer = f"http://127.0.0.1:{endless.server_address[1]}"
        verifier = JwtVerifier(OAuthSettings(issuer=issuer, audience="x", scope="dms:read", leeway=30))
        key = await verifier.keys.key("any-kid")
        assert key is None
        await verifier.aclose()
        assert verifier._http.is_closed
    finally:
        endless.shutdown()
        endless.server_close()
    # both discovery paths were tried; each read stopped near the cap (plus what socket buffers held) instead
    # of reading the 64 MiB on offer
    assert EndlessMetadata.sent < 16 * 1024 * 1024
