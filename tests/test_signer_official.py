"""Our AK/SK signer against the official ``huaweicloudsdkcore`` signer, request by request.

Every case is signed twice with the same credentials and the same ``X-Sdk-Date``:

* ours: an ``httpx2.Request`` carrying only the headers the official request also has (httpx's own
  transport headers are never signed by us), signed by ``AkSkSigner.sign(request, now=...)``;
* official: an ``SdkRequest`` built the way ``huaweicloudsdkcore.client`` builds one (path parameters
  encoded with ``quote(v, safe="")``, ``host`` = the endpoint's netloc, query as raw (key, value) tuples),
  signed by ``BasicCredentials.sign_request`` (which adds ``X-Project-Id`` / ``X-Security-Token`` and
  then calls ``huaweicloudsdkcore.signer.signer.Signer``).

Compared: the full ``Authorization`` header, the ``Host`` header and the request target on the wire
(our rewritten ``request.url`` path + query against the official ``request.uri``).
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from urllib.parse import quote, urlsplit

import httpx2
import pytest
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkcore.signer.signer import Signer
from hypothesis import given, settings
from hypothesis import strategies as st

from bgtask_mcp.dms.signer import AkSkSigner, canonical_request, signature

AK = "EXAMPLEAK0000000000"
SK = "EXAMPLESK0000000000000000000000000000000"
SDK_DATE = "20200615T085553Z"
NOW = datetime(2020, 6, 15, 8, 55, 53, tzinfo=UTC)
DMS = "https://dms.eu-de.otc.t-systems.com"
PROJECT = "0123456789abcdef0123456789abcdef"
INSTANCE = "11111111-2222-3333-4444-555555555555"
TASKS = ("v2", PROJECT, "instances", INSTANCE, "tasks")
JSON = (("Content-Type", "application/json"),)


@dataclass(frozen=True)
class Case:
    """One request, described independently of either signer."""

    id: str
    method: str = "GET"
    base: str = DMS  # scheme://host[:port], lowercase host, no default port (both signers then agree on Host)
    segments: tuple[str, ...] = TASKS  # raw, unencoded path segments
    query: tuple[tuple[str, str], ...] = ()  # raw (key, value) pairs, in the caller's order
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    project_id: str | None = None  # given to the signer / credentials, not as a header
    security_token: str | None = None

    @property
    def resource_path(self) -> str:
        # Exactly how huaweicloudsdkcore.client._parse_path_params substitutes path parameters.
        return "/" + "/".join(quote(segment, safe="") for segment in self.segments)


@dataclass(frozen=True)
class Signed:
    authorization: str
    host: str
    target: str  # path?query as sent


def sign_ours(case: Case, *, secret_key: str = SK) -> Signed:
    request = httpx2.Request(
        case.method,
        case.base + case.resource_path,
        params=list(case.query) or None,  # httpx encodes space as "+": the signer must re-canonicalise
        headers=[(name, value.encode("utf-8")) for name, value in case.headers],
        content=case.body or None,
    )
    signer = AkSkSigner(AK, secret_key, project_id=case.project_id, security_token=case.security_token)
    signer.sign(request, now=NOW)
    assert request.headers["X-Sdk-Date"] == SDK_DATE
    return Signed(request.headers["Authorization"], request.headers["Host"], request.url.raw_path.decode("ascii"))


def sign_official(case: Case) -> Signed:
    request = SdkRequest(
        method=case.method,
        schema=urlsplit(case.base).scheme,
        host=urlsplit(case.base).netloc,
        resource_path=case.resource_path,
        query_params=list(case.query),
        header_params={**dict(case.headers), "X-Sdk-Date": SDK_DATE},
        body=case.body or None,
    )
    credentials = BasicCredentials(AK, SK, case.project_id)
    if case.security_token is not None:
        credentials.with_security_token(case.security_token)
    credentials.sign_request(request)
    return Signed(request.header_params["Authorization"], request.header_params["Host"], request.uri)


def assert_same(case: Case) -> Signed:
    ours, official = sign_ours(case), sign_official(case)
    assert official.authorization.startswith("SDK-HMAC-SHA256 Access=" + AK + ", SignedHeaders=")
    assert ours.host == official.host, case
    assert ours.target == official.target, case
    assert ours.authorization == official.authorization, case
    return ours


# --------------------------------------------------------------------------------------------------
# Deterministic table of awkward cases
# --------------------------------------------------------------------------------------------------

CASES: tuple[Case, ...] = (
    Case("dms-list-tasks", query=(("limit", "10"), ("start", "1")), headers=JSON, project_id=PROJECT),
    Case("query-space-and-plus", query=(("q", "a b+c"), ("a+b", " "), ("plus", "+"))),
    Case("query-percent", query=(("p", "100%"), ("esc", "%41%zz%"), ("%20", "%2B"))),
    Case("query-amp-eq", query=(("a&b", "c=d&e"), ("=", "&"), ("k", "v=w"))),
    Case("query-unicode", query=(("n\u00e4me", "\u20ac \U0001f600"), ("\u4e2d", "\u6587\u5b57"), ("k", "\u00a0"))),
    Case("query-tilde-star-quote", query=(("~*'", "~*'()!$,;:@/?"), ("a~b", "c*d'e"))),
    Case("query-control-chars", query=(("tab\t", "\r\n"), ("nul\x00", "\x7f"))),
    Case("query-repeated-keys", query=(("k", "b"), ("k", "a"), ("k", ""), ("a", "z"), ("k", "a b"), ("k", "a+b"))),
    Case("query-empty-values", query=(("empty", ""), ("", "v"), ("", ""), ("z", ""))),
    Case("port-http-loopback", base="http://127.0.0.1:8080", query=(("limit", "10"),), headers=JSON),
    Case("port-https-nondefault", base="https://dms.example.com:8443", query=(("x", "y"),)),
    Case("path-needs-encoding", segments=("v2", "a b", "c+d", "\u00e9t\u00e9", "semi;colon", "q?m", "h#s", "at@")),
    Case("path-reserved-unreserved", segments=("v2", "~tilde", "a.b_c-d", "*star", "'quote'", "(paren)", "$&=,")),
    Case("path-slash-in-segment", segments=("v2", "a/b", "c")),
    Case("path-empty-segment", segments=("v2", "", "tasks")),
    Case("path-root", segments=("",), query=(("a", "1"),)),
    Case("path-lone-percent", segments=("v2", "100%", "%zz")),
    Case("temporary-credentials", query=(("limit", "1"),), project_id=PROJECT, security_token="STS/token+with=chars"),
    Case(
        "post-json-body",
        method="POST",
        segments=("v2", PROJECT, "instances", INSTANCE, "topics"),
        headers=(("Content-Type", "application/json;charset=UTF-8"),),
        body='{"name": "t\u00e9st topic", "partition": 3}'.encode(),
        project_id=PROJECT,
    ),
    Case("x-project-id-header", headers=(*JSON, ("X-Project-Id", PROJECT))),
    Case("header-underscore-not-signed", headers=(("X_Custom_Header", "v"), ("X-Padded", " \t a  b \t"))),
    Case("header-unicode-value", headers=(("X-Note", "gr\u00fc\u00df \u20ac"),)),
    Case("delete-with-query", method="DELETE", query=(("force", "true"),), project_id=PROJECT),
    Case("put-empty-body-lowercase-method", method="put", headers=JSON),
)


def test_table_is_non_trivial() -> None:
    assert len(CASES) >= 20
    assert len({case.id for case in CASES}) == len(CASES)
    # Every case yields its own signature, so the table really exercises different inputs.
    authorizations = [sign_official(case).authorization for case in CASES]
    assert len(set(authorizations)) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_table_matches_official(case: Case) -> None:
    assert_same(case)


def test_repeated_keys_are_order_insensitive() -> None:
    case = next(case for case in CASES if case.id == "query-repeated-keys")
    expected = sign_official(case)
    permutations = list(itertools.permutations(case.query))
    assert len(permutations) == 720
    for query in permutations[::7]:  # ~100 orderings are plenty and fast
        permuted = replace(case, query=query)
        assert sign_ours(permuted) == expected
        assert sign_official(permuted) == expected


def test_comparison_can_fail() -> None:
    """The harness does notice differences (a guard against a tautological comparison)."""
    case = CASES[0]
    assert sign_ours(case, secret_key=SK + "x").authorization != sign_official(case).authorization
    changed = replace(case, query=(("limit", "11"), ("start", "1")))
    assert sign_ours(changed).authorization != sign_official(case).authorization
    with_header = replace(case, headers=(*case.headers, ("X-Extra", "1")))
    assert sign_ours(with_header).authorization != sign_official(case).authorization


# --------------------------------------------------------------------------------------------------
# Cases where a naive signer diverges from the official one
# --------------------------------------------------------------------------------------------------


def test_percent_escape_in_path_segment_is_decoded_once() -> None:
    assert_same(Case("path-percent-escape", segments=("v2", "a%41b", "%2F")))


def test_non_json_content_type_is_unsigned_payload() -> None:
    assert_same(Case("text-body", method="POST", headers=(("Content-Type", "text/plain"),), body=b"hello"))
    assert_same(Case("text-no-body", method="GET", headers=(("Content-Type", "text/plain"),)))


def test_ipv6_host_keeps_brackets() -> None:
    assert_same(Case("ipv6", base="http://[::1]:8080"))


# --------------------------------------------------------------------------------------------------
# Property test
# --------------------------------------------------------------------------------------------------

AWKWARD = [*" +%&=~*'/?#;\u00e4\u20ac\U0001f600", "%41", "%2F", "%e2%82%ac", "a"]
awkward_text = st.lists(st.sampled_from(AWKWARD), max_size=4).map("".join)
any_text = st.text(max_size=8)  # any unicode except lone surrogates (not encodable as UTF-8 anyway)
query_text = st.one_of(any_text, awkward_text, st.sampled_from(["", "a", "A", "a b", "a+b", "%20"]))
# "." and ".." are resolved away by httpx (and urllib3) but not by the official signer, so they are left out.
segment = st.one_of(any_text, awkward_text).filter(lambda s: s not in {".", ".."})
header_name = st.one_of(
    st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_", min_size=1, max_size=10),
    st.sampled_from(["Under_Score", "a_b", "_", "Trace-Id"]),  # names with "_" are sent but never signed
)
header_value = st.text(alphabet=st.characters(exclude_characters="\r\n\x00"), max_size=12)
header_value = header_value | header_value.map(lambda value: f" \t{value} ")  # values are trimmed before signing
ascii_token = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=16)


@st.composite
def cases(draw: st.DrawFn) -> Case:
    keys = draw(st.lists(query_text, min_size=1, max_size=4))
    query = draw(st.lists(st.tuples(st.sampled_from(keys), query_text), max_size=6))
    names = draw(st.lists(header_name, max_size=3, unique_by=str.lower))
    headers = [("X-Test-" + name, draw(header_value)) for name in names]
    method = draw(st.sampled_from(["GET", "POST", "PUT", "DELETE"]))
    body = draw(st.binary(max_size=40)) if method in {"POST", "PUT"} else b""
    if body or draw(st.booleans()):
        headers.append(("Content-Type", "application/json"))
    return Case(
        id="generated",
        method=method,
        base=draw(st.sampled_from([DMS, "http://127.0.0.1:8080", "https://dms.example.com:8443"])),
        segments=("v2", *draw(st.lists(segment, min_size=1, max_size=3))),
        query=tuple(query),
        headers=tuple(headers),
        body=body,
        project_id=draw(st.none() | ascii_token),
        security_token=draw(st.none() | ascii_token),
    )


def features(case: Case) -> set[str]:
    keys = [key for key, _ in case.query]
    text = "".join(key + value for key, value in case.query)
    found = {
        "repeated-key": len(keys) != len(set(keys)),
        "non-ascii-query": not text.isascii(),
        "reserved-query-char": any(char in text for char in " +%&=~*'"),
        "empty-value": any(value == "" for _, value in case.query),
        "port": urlsplit(case.base).port is not None,
        "encoded-path": any(quote(s, safe="") != s for s in case.segments),
        "non-ascii-path": not "".join(case.segments).isascii(),
        "underscore-header": any("_" in name for name, _ in case.headers),
        "padded-header-value": any(value != value.strip() for _, value in case.headers),
        "non-ascii-header-value": not "".join(value for _, value in case.headers).isascii(),
        "token": case.security_token is not None,
        "body": bool(case.body),
    }
    return {name for name, present in found.items() if present}


def test_property_matches_official() -> None:
    seen: Counter[str] = Counter()

    @settings(max_examples=300, deadline=None, derandomize=True, database=None)
    @given(case=cases())
    def check(case: Case) -> None:
        seen["examples"] += 1
        seen.update(features(case))
        assert_same(case)

    check()
    # The generated set must be non-trivial: enough examples, and each awkward feature well represented.
    assert seen["examples"] >= 250, seen
    for feature in (
        "repeated-key",
        "non-ascii-query",
        "reserved-query-char",
        "empty-value",
        "port",
        "encoded-path",
        "non-ascii-path",
        "underscore-header",
        "padded-header-value",
        "non-ascii-header-value",
        "token",
        "body",
    ):
        assert seen[feature] >= 15, (feature, seen)


# --------------------------------------------------------------------------------------------------
# The worked example of DMS_API.md
# --------------------------------------------------------------------------------------------------

DOC_PATH = f"/v2/{PROJECT}/instances/{INSTANCE}/tasks"
DOC_CANONICAL = f"""GET
{DOC_PATH}/
begin_time=20200515000000&limit=10&start=1
content-type:application/json
host:dms.eu-de.otc.t-systems.com
x-project-id:{PROJECT}
x-sdk-date:20200615T085553Z

content-type;host;x-project-id;x-sdk-date
e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"""
DOC_SIGNATURE = "19ea5af5b1c1ac7a8553d0ea75f15c57b7bbf97ea366d378ae763acd15c78040"
DOC_AUTHORIZATION = (
    f"SDK-HMAC-SHA256 Access={AK}, SignedHeaders=content-type;host;x-project-id;x-sdk-date, Signature={DOC_SIGNATURE}"
)
DOC_TARGET = f"{DOC_PATH}?begin_time=20200515000000&limit=10&start=1"
DOC_QUERY = (("limit", "10"), ("start", "1"), ("begin_time", "20200515000000"))
DOC_HEADERS = {"Content-Type": "application/json", "X-Sdk-Date": SDK_DATE, "X-Project-Id": PROJECT}


def test_worked_example_ours() -> None:
    request = httpx2.Request("GET", f"{DMS}{DOC_PATH}?limit=10&start=1&begin_time=20200515000000", headers=DOC_HEADERS)
    AkSkSigner(AK, SK).sign(request, now=datetime(2001, 1, 1, tzinfo=UTC))  # the header's date wins
    assert request.headers["Authorization"] == DOC_AUTHORIZATION
    assert request.url.raw_path.decode("ascii") == DOC_TARGET

    signed = ["content-type", "host", "x-project-id", "x-sdk-date"]
    headers = {**DOC_HEADERS, "Host": "dms.eu-de.otc.t-systems.com"}
    assert canonical_request("GET", DOC_PATH, DOC_QUERY, headers, signed, b"") == DOC_CANONICAL
    assert signature(SK, SDK_DATE, DOC_CANONICAL) == DOC_SIGNATURE


def test_worked_example_ours_with_project_from_signer() -> None:
    request = httpx2.Request("GET", f"{DMS}{DOC_PATH}", params=list(DOC_QUERY), headers=JSON)
    AkSkSigner(AK, SK, project_id=PROJECT).sign(request, now=NOW)
    assert request.headers["Authorization"] == DOC_AUTHORIZATION
    assert request.url.raw_path.decode("ascii") == DOC_TARGET


def test_worked_example_official() -> None:
    request = SdkRequest(
        method="GET",
        schema="https",
        host="dms.eu-de.otc.t-systems.com",
        resource_path=DOC_PATH,
        query_params=list(DOC_QUERY),
        header_params=dict(DOC_HEADERS),
    )
    Signer(BasicCredentials(AK, SK)).sign(request)
    assert request.header_params["Authorization"] == DOC_AUTHORIZATION
    assert request.uri == DOC_TARGET


# --------------------------------------------------------------------------------------------------
# The simulator's own verifier (no code shared with our signer) against the official signer
# --------------------------------------------------------------------------------------------------


def official_request_as_seen_by_a_server(case: Case) -> tuple[object, list[str], str]:
    """The official SDK's signed request as an ASGI server receives it: raw path and query, headers."""
    from starlette.requests import Request

    from bgtask_mcp.simulator.auth import AUTHORIZATION

    request = SdkRequest(
        method=case.method,
        schema=urlsplit(case.base).scheme,
        host=urlsplit(case.base).netloc,
        resource_path=case.resource_path,
        query_params=list(case.query),
        header_params={**dict(case.headers), "X-Sdk-Date": SDK_DATE},
        body=case.body or None,
    )
    credentials = BasicCredentials(AK, SK, case.project_id)
    if case.security_token is not None:
        credentials.with_security_token(case.security_token)
    credentials.sign_request(request)
    target = request.uri
    path, _, query = target.partition("?")
    # the official SDK leaves each signed value as its UTF-8 bytes read as latin-1, which is how it goes out
    headers = [(k.lower().encode(), str(v).encode("latin-1")) for k, v in request.header_params.items()]
    scope = {
        "type": "http",
        "method": case.method.upper(),
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "headers": headers,
    }
    match = AUTHORIZATION.match(request.header_params["Authorization"])
    assert match is not None
    return Request(scope), match.group(2).split(";"), match.group(3)


@pytest.mark.parametrize("case", [c for c in CASES if c.method.upper() == "GET"], ids=lambda c: c.id)
def test_the_simulators_verifier_agrees_with_the_official_signer(case: Case) -> None:
    from bgtask_mcp.simulator.auth import expected_signature

    request, names, official = official_request_as_seen_by_a_server(case)
    assert expected_signature(SK, request, names, case.body) == official  # type: ignore[arg-type]
