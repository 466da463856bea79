"""Free text with every secret it may carry masked: registered values first, then the named rules in order.

A cheap pre-check built from the key vocabulary skips texts that hold nothing a rule could find; each rule runs
only when its trigger literal is present. Text nested in text (JSON in a string in JSON...) deeper than
``MAX_TEXT_DEPTH`` is masked whole.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass
from time import perf_counter
from typing import Any, Final

from bgtask_mcp.redaction import rules as r
from bgtask_mcp.redaction.keys import SECRET_PAIRS, SECRET_WORDS, WEAK_WORDS
from bgtask_mcp.redaction.loose_json import mask_tokens
from bgtask_mcp.redaction.registry import REGISTRY

MAX_TEXT_DEPTH: Final = 8
# Short texts found clean are remembered (tool names, regions, spec codes, outcomes: the same few values come back
# on every call), bounded in count and size, and forgotten whenever the registry learns a value.
CLEAN_MAX_CHARACTERS: Final = 128
CLEAN_MAX_ENTRIES: Final = 2048


def _loose_json(text: str, depth: int) -> str:
    if ("{" in text or "[" in text) and ('"' in text or "'" in text):
        return mask_tokens(text, depth, mask_text)
    return text


RULES: Final = (
    r.regex_rule("pem_block", ("-----BEGIN",), r.PEM, r.pem,
                 "-----BEGIN PRIVATE KEY-----\nMIIBsecret\n-----END PRIVATE KEY-----"),
    r.regex_rule("jwt", ("eyJ",), r.JWT, lambda _m: r.MASK, "token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"),
    r.regex_rule("known_token", r.KNOWN_TOKEN_TRIGGERS, r.KNOWN_TOKEN, lambda _m: r.MASK,
                 "connector uses ghp_0123456789abcdefghijABCDEFGHIJ0123456789 for the repo"),
    r.regex_rule("url_userinfo", ("@",), r.URL_USERINFO, lambda m: f"{m.group(1)}{r.MASK}@",
                 "kafka://admin:hunter2@broker-1:9093"),
    r.regex_rule("bare_userinfo", ("@",), r.BARE_USERINFO, lambda _m: f"{r.MASK}@", "admin:hunter2@broker-1"),
    r.regex_rule("auth_scheme", r.SCHEME_WORDS, r.AUTH_SCHEME, lambda m: f"{m.group(1)}{m.group(2)}{r.MASK}",
                 "Authorization: Bearer abcdef123456"),
    r.regex_rule("signature_header", ("-HMAC-SHA256",), r.SIGNATURE_HEADER, lambda m: f"{m.group(1)} {r.MASK}",
                 "SDK-HMAC-SHA256 Access=AK, SignedHeaders=host, Signature=abc"),
    r.regex_rule("header_tuple", ("(", "["), r.HEADER_TUPLE, r._header_tuple, "[('x-auth-token', 'abcdef123456')]"),
    r.regex_rule("xml_element", ("</",), r.XML_ELEMENT, r._xml_element, "<password>hunter2</password>"),
    r.regex_rule("xml_named_value", ("name=", "key=", "name =", "key ="), r.XML_NAMED, r._xml_named,
                 '<property name="ssl.keystore.password" value="hunter2"/>'),
    r.regex_rule("java_system_property", ("-D", "-X"), r.SYSTEM_PROPERTY, r._system_property,
                 "java -Dssl.keystore.password=hunter2 -jar app.jar"),
    r.regex_rule("secret_flag", ("-",), r.FLAG_VALUE, r._flag_value, "kafka-configs --password hunter2 --alter"),
    r.regex_rule("mysql_p_flag", ("-p",), r.SHORT_P, r._short_p, "mysql -u root -phunter2 orders"),
    r.Rule("loose_json", ("{", "["), _loose_json, '{"password": "hunter2", "retries": NaN}'),
    r.Rule("key_value_pair", ("=", ":"), r.mask_pairs, "Invalid request parameter: sasl.password=hunter2 here"),
)  # fmt: skip

# -- the pre-check ------------------------------------------------------------------------------------------------

_HINT_MARKS: Final = ("=", ":", "@", "-----BEGIN", "eyJ", "</", "-p", *r.KNOWN_TOKEN_TRIGGERS)
_HINT_WORDS = SECRET_WORDS | WEAK_WORDS | {w for pair in SECRET_PAIRS for w in pair if w not in ("id", "str")}
_HINT_LONG: Final = tuple(sorted({w for w in _HINT_WORDS if len(w) >= 4} | {"bearer", "basic", "digest", "negotiate",
                                                                              "ntlm"}))  # fmt: skip
_HINT_SHORT: Final = tuple(sorted(w for w in _HINT_WORDS if len(w) < 4))


def _any_of(words: tuple[str, ...]) -> re.Pattern[str]:
    """A regex that finds any of ``words``: only the words that contain no other (finding "pass" is enough to
    know "password" may be there), as a trie, because ``re`` tries a flat alternation word by word at every
    position. About four times faster on the short values masked on every call."""
    needed = sorted(w for w in words if not any(other != w and other in w for other in words))
    tree: dict[str, Any] = {}
    for word in needed:
        node = tree
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}
    return re.compile(_trie(tree))


def _trie(node: dict[str, Any]) -> str:
    branches = [re.escape(char) + _trie(sub) for char, sub in sorted(node.items()) if char]
    if not branches:
        return ""
    body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
    return f"(?:{body})?" if "" in node else body


_HINT_FOLDED = _any_of(_HINT_LONG)  # searched in the casefolded text
_HINT_FOLDED_SHORT = _any_of(_HINT_SHORT)
# a short word counts as a word of its own (PWD, pwd_x) or as a camelCase part (dbPwd), not inside another word
_HINT_SHORT_WORD = re.compile(
    rf"(?<![A-Za-z])(?:{'|'.join(_HINT_SHORT + tuple(w.upper() for w in _HINT_SHORT))})(?![a-z])"
    rf"|(?<=[a-z0-9])(?:{'|'.join(w.capitalize() for w in _HINT_SHORT)})(?![a-z])"
)


def has_hints(text: str) -> bool:
    """False only when no rule could find anything in ``text`` (substring tests first, regexes when needed)."""
    if any(map(text.__contains__, _HINT_MARKS)):
        return True
    folded = text.casefold()
    if _HINT_FOLDED.search(folded):
        return True
    return _HINT_FOLDED_SHORT.search(folded) is not None and _HINT_SHORT_WORD.search(text) is not None


@dataclass
class MaskingTime:
    """Time spent in ``mask_text`` (outermost calls) since the process started: what ``/metrics`` exposes, so
    that an operator (and the soak bench) can see masking stay as cheap after a million calls as after ten."""

    calls: int = 0
    seconds: float = 0.0


MASKING: Final = MaskingTime()


def mask_text(text: str, depth: int = 0) -> str:
    """Free text with every secret it may carry replaced by ``***``."""
    if not text:
        return text
    if depth:
        return _mask(text, depth)
    began = perf_counter()
    try:
        return _CLEAN.mask(text)
    finally:
        MASKING.calls += 1
        MASKING.seconds += perf_counter() - began


class _CleanTexts:
    """``_mask`` for short texts, answered from memory when the same text was clean before."""

    def __init__(self) -> None:
        self._seen: OrderedDict[str, None] = OrderedDict()  # popitem(last=False) stays O(1) under churn
        self._generation = REGISTRY.generation

    def mask(self, text: str) -> str:
        if len(text) > CLEAN_MAX_CHARACTERS:
            return _mask(text, 0)
        if self._generation != REGISTRY.generation:
            self._seen.clear()
            self._generation = REGISTRY.generation
        if text in self._seen:
            return text
        masked = _mask(text, 0)
        if masked == text:
            if len(self._seen) >= CLEAN_MAX_ENTRIES:
                self._seen.popitem(last=False)  # the oldest
            self._seen[text] = None
        return masked


_CLEAN: Final = _CleanTexts()


def _mask(text: str, depth: int) -> str:
    text = REGISTRY.mask(text)
    if not has_hints(text):
        return text
    if depth > MAX_TEXT_DEPTH:
        return r.MASK
    for rule in RULES:
        if rule.triggered(text):
            text = rule.apply(text, depth)
    return text
