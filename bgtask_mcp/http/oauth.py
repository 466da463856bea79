"""OAuth 2.1 resource server: access tokens are JWTs from one issuer, verified with PyJWT.

The issuer's keys come from its JWKS, found through its OpenID discovery document (or RFC 8414 metadata),
cached, and fetched again when a token names a key id (``kid``) not seen yet: that is how a key rotation
arrives. Issuer, audience, expiry and not-before are checked by PyJWT; the scope by the SDK's bearer
middleware (403 ``insufficient_scope``). Unsigned tokens (``alg: none``) and symmetric algorithms are refused
before anything else. A refused token gets a plain 401 that says nothing about why; the reason goes to the log.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import anyio
import httpx2
import jwt
from mcp.server.auth.provider import AccessToken

from bgtask_mcp.config import OAuthSettings
from bgtask_mcp.redaction import MASK, get_logger

log = get_logger("bgtask_mcp.http.oauth")

ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
MAX_METADATA_BYTES = 512 * 1024
# A key id the issuer did not know is not asked for again for a while, and the keys are fetched at most so
# often per minute: tokens with made-up key ids cannot turn the server against its issuer.
UNKNOWN_KID_SECONDS = 60.0
MAX_FETCHES_PER_MINUTE = 10
MAX_KID_CHARACTERS = 128
MAX_MISSING = 256
DISCOVERY_PATHS = ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server")


class KeySet:
    """The issuer's public keys by ``kid``; fetched on first use and again for an unknown ``kid``."""

    def __init__(self, issuer: str, http: httpx2.AsyncClient, clock: Callable[[], float] = time.monotonic) -> None:
        self.issuer = issuer.rstrip("/")
        self._http = http
        self._clock = clock
        self._keys: dict[str | None, Any] = {}
        self._jwks_uri: str | None = None
        self._fetches: list[float] = []  # clock() of each fetch in the last minute
        self._missing: dict[str | None, float] = {}  # kid -> clock() when the issuer last did not have it
        self._lock = anyio.Lock()
        self.fetches = 0

    async def key(self, kid: str | None) -> Any | None:
        kid = kid[:MAX_KID_CHARACTERS] if isinstance(kid, str) else kid
        if kid in self._keys:
            return self._keys[kid]
        async with self._lock:  # concurrent tokens with a new kid share one fetch
            if kid not in self._keys and self._may_fetch(kid):
                await self._fetch()
                if kid not in self._keys:
                    self._remember_missing(kid)
        return self._keys.get(kid)

    def _remember_missing(self, kid: str | None) -> None:
        """Bounded: kids come from callers' tokens, so old entries go and at most ``MAX_MISSING`` are kept."""
        now = self._clock()
        self._missing = {k: t for k, t in self._missing.items() if now - t < UNKNOWN_KID_SECONDS}
        if len(self._missing) >= MAX_MISSING:
            self._missing.pop(next(iter(self._missing)))
        self._missing[kid] = now

    def _may_fetch(self, kid: str | None) -> bool:
        now = self._clock()
        self._fetches = [t for t in self._fetches if now - t < 60.0]
        asked = self._missing.get(kid)
        recently_missing = asked is not None and now - asked < UNKNOWN_KID_SECONDS
        return not recently_missing and len(self._fetches) < MAX_FETCHES_PER_MINUTE

    async def _fetch(self) -> None:
        self._fetches.append(self._clock())
        self.fetches += 1
        try:
            if self._jwks_uri is None:
                self._jwks_uri = await self._discover()
            document = await self._get_json(self._jwks_uri)
        except (httpx2.HTTPError, ValueError) as exc:
            log.warning("cannot read the keys of the OAuth issuer %s: %s", self.issuer, exc)
            return
        keys: dict[str | None, Any] = {}
        for entry in document.get("keys", []) if isinstance(document.get("keys"), list) else []:
            try:
                parsed = jwt.PyJWK(entry)
            except (jwt.PyJWTError, ValueError, TypeError):
                continue  # a key of a type or use PyJWT cannot verify with: not ours to use
            keys[entry.get("kid")] = parsed.key
        self._keys = keys
        log.info("keys of the OAuth issuer %s: %d (%s)", self.issuer, len(keys), ", ".join(map(str, keys)) or "none")

    async def _discover(self) -> str:
        for path in DISCOVERY_PATHS:
            try:
                metadata = await self._get_json(self.issuer + path)
            except (httpx2.HTTPError, ValueError):
                continue
            if metadata.get("issuer", "").rstrip("/") == self.issuer and isinstance(metadata.get("jwks_uri"), str):
                return str(metadata["jwks_uri"])
        raise ValueError(f"no discovery document at {self.issuer} names this issuer and a jwks_uri")

    async def _get_json(self, url: str) -> dict[str, Any]:
        """The JSON object at ``url``, read only up to ``MAX_METADATA_BYTES`` (stopped at the cap, not after)."""
        body = bytearray()
        async with self._http.stream("GET", url) as response:
            response.raise_for_status()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_METADATA_BYTES:
                    raise ValueError(f"{url} answered with more than {MAX_METADATA_BYTES} bytes")
        data = json.loads(bytes(body))
        if not isinstance(data, dict):
            raise ValueError(f"{url} did not answer with a JSON object")
        return data


class JwtVerifier:
    """The SDK's ``TokenVerifier`` for JWT access tokens of ``settings.issuer`` meant for ``settings.audience``."""

    def __init__(self, settings: OAuthSettings, *, http: httpx2.AsyncClient | None = None) -> None:
        self.settings = settings
        self._owns_http = http is None
        self._http = http or httpx2.AsyncClient(timeout=httpx2.Timeout(5.0), follow_redirects=False)
        self.keys = KeySet(settings.issuer, self._http)

    async def aclose(self) -> None:
        """Close the HTTP client of discovery and JWKS reads (the server calls it when it stops)."""
        if self._owns_http:
            await self._http.aclose()

    async def verify_token(self, token: str) -> AccessToken | None:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            log.info("refused a bearer token: not a JWT")
            return None
        algorithm = header.get("alg")
        if algorithm not in ALGORITHMS:
            log.info("refused a bearer token: algorithm %r is not accepted", str(algorithm)[:20])
            return None
        key = await self.keys.key(header.get("kid"))
        if key is None:
            log.info("refused a bearer token: the issuer has no key %r", str(header.get("kid"))[:80])
            return None
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=self.settings.audience,
                issuer=self.settings.issuer,
                leeway=self.settings.leeway,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.PyJWTError as exc:
            log.info("refused a bearer token: %s", type(exc).__name__)
            return None
        return _access_token(token, claims, self.settings.audience)


def _access_token(token: str, claims: dict[str, Any], audience: str) -> AccessToken:
    raw_scope = claims.get("scope", claims.get("scp", ""))
    scopes = raw_scope.split() if isinstance(raw_scope, str) else [str(s) for s in raw_scope or []]
    client = claims.get("client_id") or claims.get("azp") or claims.get("sub") or "unknown-client"
    return AccessToken(
        token=MASK,
        client_id=str(client),
        scopes=scopes,
        expires_at=int(claims["exp"]),
        resource=audience,
        subject=str(claims["sub"]) if claims.get("sub") else None,
        claims={"iss": claims.get("iss")},
    )
