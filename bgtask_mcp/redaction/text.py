"""Free text with every secret it may carry masked: registered values first, then the named rules in order.

A cheap pre-check built from the key vocabulary skips texts that hold nothing a rule could find; each rule runs
only when its trigger literal is present. Text nested in text (JSON in a string in JSON...) deeper than
``MAX_TEXT_DEPTH`` is masked whole.
"""

from __future__ import annotations

import re
from typing import Final

from bgtask_mcp.redaction import rules as r
from bgtask_mcp.redaction.keys import SECRET_PAIRS, SECRET_WORDS, WEAK_WORDS
from bgtask_mcp.redaction.loose_json import mask_tokens
from bgtask_mcp.redaction.registry import REGISTRY

MAX_TEXT_DEPTH: Final = 8


def _loose_json(text: str, depth: int) -> str:
    if ("{" in text or "[" in text) and ('"' in text or "'" in text):
        return mask_tokens(text, depth, mask_text)
    return text


RULES: Final = (
    r.regex_rule("pem_block", ("-----BEGIN",), r.PEM, r.pem,
                 "-----BEGIN PRIVATE KEY-----\nMIIBsecret\n-----END PRIVATE KEY-----"),
    r.regex_rule("jwt", ("eyJ",), r.JWT, lambda _m: r.MASK, "token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"),
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

_HINT_MARKS: Final = ("=", ":", "@", "-----BEGIN", "eyJ", "</", "-p")
_HINT_WORDS = SECRET_WORDS | WEAK_WORDS | {w for pair in SECRET_PAIRS for w in pair if w not in ("id", "str")}
_HINT_LONG: Final = tuple(sorted({w for w in _HINT_WORDS if len(w) >= 4} | {"bearer", "basic", "digest", "negotiate",
                                                                              "ntlm"}))  # fmt: skip
_HINT_SHORT: Final = tuple(sorted(w for w in _HINT_WORDS if len(w) < 4))
_HINT_FOLDED = re.compile("|".join(_HINT_LONG))  # searched in the casefolded text
_HINT_FOLDED_SHORT = re.compile("|".join(_HINT_SHORT))
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


def mask_text(text: str, depth: int = 0) -> str:
    """Free text with every secret it may carry replaced by ``***``."""
    if not text:
        return text
    text = REGISTRY.mask(text)
    if not has_hints(text):
        return text
    if depth > MAX_TEXT_DEPTH:
        return r.MASK
    for rule in RULES:
        if rule.triggered(text):
            text = rule.apply(text, depth)
    return text
