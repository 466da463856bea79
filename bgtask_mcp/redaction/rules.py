"""The named rules that find secrets in free text: each a trigger (a literal the rule cannot match without, so a
text without it costs one substring test), a pattern, and what replaces the secret. ``text.RULES`` puts them in
order; ``tests/test_redaction_rules.py`` tests each on its own.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from bgtask_mcp.redaction.keys import is_secret_key

MASK: Final = "***"
DEEP_MASK: Final = "*** (nested too deeply to show)"
QUOTES: Final = frozenset("'\"\\")


@dataclass(frozen=True)
class Rule:
    """One way a secret shows up in text. ``apply(text, depth)`` runs only when ``triggered(text)``."""

    name: str
    triggers: tuple[str, ...]  # any of these literals present: the rule may match (empty: always run)
    apply: Callable[[str, int], str]
    example: str  # a text the rule alone must change (tests run every rule on its example)

    def triggered(self, text: str) -> bool:
        return not self.triggers or any(t in text for t in self.triggers)


def regex_rule(
    name: str,
    triggers: tuple[str, ...],
    pattern: re.Pattern[str],
    replace: Callable[[re.Match[str]], str],
    example: str,
) -> Rule:
    return Rule(name, triggers, lambda text, _depth: pattern.sub(replace, text), example)


def masked_token(piece: str) -> str:
    """``***`` in place of a value, keeping its quotes (and their escaping) when it had them."""
    stripped = piece.lstrip("\\")
    prefix = piece[: len(piece) - len(stripped)]
    if stripped[:1] in ("'", '"'):
        quote = stripped[0]
        closed = len(stripped) > 1 and stripped.endswith(quote)
        return f"{prefix}{quote}{MASK}{prefix + quote if closed else ''}"
    return MASK


# -- credentials with a shape of their own --------------------------------------------------------------------

PEM = re.compile(r"-----BEGIN ([A-Z0-9 ]{1,40})-----.*?(?:-----END \1-----|\Z)", re.DOTALL)
JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
# Credentials whose shape names them, whatever key (if any) they sit under: tokens of GitHub, GitLab, Slack, AWS,
# Google, OpenAI/Anthropic-style "sk-", Stripe, Hugging Face, npm, SendGrid. What a connector or a CI job pasted
# into a task's params or a trace's request carries.
KNOWN_TOKEN = re.compile(
    r"(?<![A-Za-z0-9])(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,}|glpat-[A-Za-z0-9_-]{20,}"
    r"|xox[abprs]-[A-Za-z0-9-]{10,}|(?:AKIA|ASIA)[0-9A-Z]{16}|AIza[0-9A-Za-z_-]{35}|sk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}"
    r"|[sr]k_live_[0-9A-Za-z]{20,}|hf_[A-Za-z]{30,}|npm_[A-Za-z0-9]{36}|SG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,})"
    r"(?![A-Za-z0-9])"
)
KNOWN_TOKEN_TRIGGERS: Final = ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "glpat-", "xox", "AKIA", "ASIA",
                               "AIza", "sk-", "_live_", "hf_", "npm_", "SG.")  # fmt: skip
URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]{0,30}://)[^\s/?#@'\"<>]{1,256}@")
BARE_USERINFO = re.compile(r"(?<![\w/@.:*-])[\w.%+-]{1,64}:[^\s/@'\"<>*]{1,256}@(?=[\w.-])")
# Authorization header values: a scheme and a credential-shaped word (not "Basic Information page")
AUTH_SCHEME = re.compile(
    r"(?i)\b(Bearer|Basic|Digest|Negotiate|NTLM)(\s+)(?!<)(?!(?-i:[A-Z]?[a-z]+)(?:[\s,;)'\"]|$))[A-Za-z0-9._~+/=-]{8,}"
)
SCHEME_WORDS: Final = ("earer", "EARER", "asic", "ASIC", "igest", "IGEST", "egotiate", "EGOTIATE", "NTLM", "ntlm")
SIGNATURE_HEADER = re.compile(r"\b((?:SDK|AWS4)-HMAC-SHA256)\s+Access=[^\r\n'\"]*")
# ('x-auth-token', 'VALUE') / (b'x-subject-token', b'VALUE'): header tuples in reprs of HTTP traces
HEADER_TUPLE = re.compile(r"""([(\[]\s*b?(['"])([\w.-]{1,80})\2\s*,\s*b?(['"]))(.*?)(\4)""")


def _header_tuple(match: re.Match[str]) -> str:
    return match.group(1) + MASK + match.group(6) if is_secret_key(match.group(3)) else match.group(0)


# -- command lines --------------------------------------------------------------------------------------------

_ARG = r"""(?:\\+"(?:(?!\\+").)*(?:\\+"|$)|"(?:\\.|[^"\\\n])*"?|'(?:\\.|[^'\\\n])*'?|[^\s'"\\,;]+)"""
# --password SECRET, --password=SECRET, -storepass SECRET, -passin pass:SECRET (a value never starts with -)
FLAG_VALUE = re.compile(rf"(?<![\w-])(--?)([A-Za-z][\w.-]{{0,60}})(=|[ \t]+)(?!-)({_ARG})")
# -Dsome.password=SECRET (Java system properties), -Xsome.secret=SECRET
SYSTEM_PROPERTY = re.compile(rf"(?<![\w-])(-[DX])([\w.-]{{1,80}})=({_ARG})")
# mysql -pSECRET (glued), mysql -p SECRET; a port (-p 8080, -p 8080:80, -p2222) is not a password
SHORT_P = re.compile(rf"""(?<![\w-])-p(?:([ \t]+)(?!-)({_ARG})|(?![\s=,;-])({_ARG}))""")
MYSQL_FAMILY = re.compile(r"(?i)\b(?:mysql\w*|mariadb\w*)\b")
PORT_LIKE = re.compile(r"\d{1,5}(?::\d{1,5})*(?:/(?:tcp|udp))?")
# values of openssl's -passin/-passout that name where the secret is, not the secret
PASS_SOURCES: Final = ("env:", "file:", "fd:", "stdin")


def _flag_value(match: re.Match[str]) -> str:
    dashes, name, sep, value = match.groups()
    if not is_secret_key(name) or value.startswith(PASS_SOURCES) or MASK in value:
        return match.group(0)
    return f"{dashes}{name}{sep}{masked_token(value)}"


def _system_property(match: re.Match[str]) -> str:
    switch, name, value = match.groups()
    return f"{switch}{name}={masked_token(value)}" if is_secret_key(name) and MASK not in value else match.group(0)


def _short_p(match: re.Match[str]) -> str:
    space, spaced, glued = match.groups()
    value = spaced if spaced is not None else glued
    if PORT_LIKE.fullmatch(value.strip("'\"")) or MASK in value:
        return match.group(0)
    if glued is not None and not MYSQL_FAMILY.search(match.string, 0, match.start()):
        return match.group(0)  # -passin, -print, -profile: glued -pX is a password for the MySQL tools only
    return f"-p{space}{masked_token(value)}" if spaced is not None else f"-p{masked_token(value)}"


# -- markup ---------------------------------------------------------------------------------------------------

# <password>SECRET</password>, <sasl.password attr="x">SECRET</sasl.password>
XML_ELEMENT = re.compile(r"<(?P<tag>[A-Za-z_][\w.:-]{0,80})(?P<attrs>\s[^<>]{0,400})?>(?P<body>[^<]+)</(?P=tag)\s*>")
# <property name="ssl.keystore.password" value="SECRET"/>, <entry key="password">SECRET</entry>
XML_NAMED = re.compile(
    r"""<(?P<tag>[A-Za-z_][\w.:-]{0,80})(?P<attrs>[^<>]{0,400}?\b(?:name|key)\s*=\s*(?P<q>\\*["'])(?P<name>[^"'<>\\]{1,120})"""
    r"""(?P=q)[^<>]{0,400}?)(?P<end>/?>|\Z)(?P<body>[^<]*)"""
)
XML_VALUE_ATTR = re.compile(r"""(\bvalue\s*=\s*)(\\*["'])[^"'\\]*(?:\2|\Z)""")


def _xml_element(match: re.Match[str]) -> str:
    if not is_secret_key(match.group("tag")) or not match.group("body").strip() or MASK in match.group("body"):
        return match.group(0)
    return match.group(0)[: match.start("body") - match.start()] + MASK + f"</{match.group('tag')}>"


def _xml_named(match: re.Match[str]) -> str:
    if not is_secret_key(match.group("name")):
        return match.group(0)
    attrs = XML_VALUE_ATTR.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}{m.group(2)}", match.group("attrs"))
    if not match.group("end"):  # cut off inside the element: nothing after the name is shown
        return f"<{match.group('tag')}{attrs}"
    head = f"<{match.group('tag')}{attrs}{match.group('end')}"
    body = match.group("body")
    if match.group("end") == ">" and body.strip():  # the element's text is the value (closed or cut off)
        body = MASK
    return head + body


# -- key = value, key: value ----------------------------------------------------------------------------------

# key=value / key: value / "key": "value" / \"key\": \"value\" (escaped, as inside an encoded string)
PAIR = re.compile(
    r"""(?<![\w.\-/])(?P<kq>\\*["'])?(?P<key>[A-Za-z_][\w.\-/]{0,80})(?P=kq)?(?P<sep>\s*(?:=>|[=:])\s*)"""
    r"""(?P<value>\\+"(?:(?!\\+").)*(?:\\+"|$)|"(?:\\.|[^"\\\n])*(?:"|$)|'(?:\\.|[^'\\\n])*(?:'|$)"""
    r"""|[^\s,;&}\]\)'"]+)""",
    re.MULTILINE,
)
# the rest of a "key: value" line when the value is prose ("password: correct horse battery staple")
LINE_REST = re.compile(r"[^\r\n,;'\")\]}]*")
PLACEHOLDER = re.compile(r"(?:\w+\s+)?(?:<[\w .:-]+>|\$\{[\w.:-]+\}|\.\.\.|\*+)")


def mask_pairs(text: str, _depth: int = 0) -> str:
    """Every value after a secret-like key. A pair whose key is harmless does not hide the pairs inside its
    value: ``parameter: sasl.password=SECRET`` is read from ``sasl.password`` on too."""
    out: list[str] = []
    last = position = 0
    while (match := PAIR.search(text, position)) is not None:
        if not is_secret_key(match.group("key")):
            position = match.start("value")  # a chain: the value may hold the next pair
            continue
        start, end = match.start("value"), match.end("value")
        value = match.group("value")
        quote = value[0] if value[0] in QUOTES else ""
        if not quote and ":" in match.group("sep"):
            end += LINE_REST.match(text, end).end() - end  # type: ignore[union-attr]
            value = text[start:end]
        position = end
        if MASK in value or PLACEHOLDER.fullmatch(value.strip().strip("'\"\\")):
            continue  # an instruction such as 'Authorization: Bearer <token>', not a credential
        out.append(text[last:start])
        out.append(masked_token(value) if quote else MASK)
        last = end
    out.append(text[last:])
    return "".join(out)


def pem(match: re.Match[str]) -> str:
    return f"-----BEGIN {match.group(1)}-----{MASK}"
