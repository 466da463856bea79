"""Every masking rule of bgtask-mcp, in one place. It fails closed: when in doubt, mask.

What is masked, and where:

- **Registered secrets** (every ``Secret``, every IAM token the server obtains) wherever they appear.
- **Values of secret-like keys** at any depth of a decoded document (``mask_value``), whatever the value's
  type; past ``MAX_DEPTH`` levels the rest is masked, never shown.
- **Name/value pairs** whose name is secret-like (``{"name": "ssl.truststore.password", "value": ...}``,
  ``key``/``value``, ``config_name``/``config_value`` and any similar shape): every other field of that
  object is masked.
- **Free text** (``mask_text``): credentials in URLs (``kafka://user:pw@host``), ``Bearer``/``Basic``/
  signature credentials, PEM blocks, JWT-shaped strings, ``key=value`` / ``key: value`` /
  ``"key": "value"`` forms with a secret-like key, and JSON-like text that is not valid JSON (a ``NaN``,
  a trailing comma, a truncated document): its tokens are masked by the same key and pair rules.
- **Log records** (``RedactingFilter``): the final message, arguments and traceback get ``mask_text``.

The key vocabulary (``SECRET_WORDS`` and friends) is matched on the key's words, split at ``_ . - /``,
spaces and camelCase, so ``dbPwd``, ``DB_PASSWORD``, ``ssl.truststore.location`` and
``connectionString`` are all secret-like, while ``partition_key``, ``skip`` or ``bypass`` are not.
"""

from __future__ import annotations

import functools
import itertools
import logging
import re
import threading
from typing import Any, Final

MASK: Final = "***"
DEEP_MASK: Final = "*** (nested too deeply to show)"
MAX_DEPTH: Final = 32

# A key holding any of these words (or containing one of the long ones, glued) names a secret.
SECRET_WORDS: Final = frozenset(
    {
        "password", "passwd", "pwd", "pass", "passphrase", "passcode", "pin", "secret", "secrets", "token",
        "tokens", "credential", "credentials", "cred", "creds", "cookie", "cookies", "jaas", "keystore",
        "truststore", "dsn", "authorization", "bearer", "signature", "ak", "sk", "otp", "privatekey", "apikey",
        "accesskey", "secretkey", "connectionstring", "connstr", "sessionid", "sessionkey",
    }
)  # fmt: skip
# Words long and unusual enough to spot inside glued keys (``dbpassword``, ``sslkeystorelocation``).
GLUED_WORDS: Final = (
    "password", "passwd", "pwd", "passphrase", "passcode", "secret", "token", "credential", "cookie", "jaas",
    "keystore", "truststore", "privatekey", "apikey", "accesskey", "secretkey", "connectionstring", "connstr",
    "authorization",
)  # fmt: skip
# Adjacent word pairs that name a secret: private key, api key, connection string, ...
SECRET_PAIRS: Final = frozenset(
    {
        ("private", "key"), ("api", "key"), ("access", "key"), ("secret", "key"), ("auth", "key"),
        ("master", "key"), ("encryption", "key"), ("signing", "key"), ("client", "key"), ("session", "key"),
        ("session", "id"), ("connection", "string"), ("conn", "string"), ("conn", "str"), ("access", "id"),
        ("security", "token"), ("sas", "key"),
    }
)  # fmt: skip
# Words that name a secret unless the key ends in a word that says it holds a setting, not the secret
# itself (``session.timeout.ms``, ``auth.mechanism``, ``authentication.enabled``).
WEAK_WORDS: Final = frozenset({"session", "auth", "authentication", "login", "sasl", "oauth", "userinfo"})
SETTING_SUFFIXES: Final = frozenset(
    {
        "timeout", "ms", "seconds", "secs", "interval", "enabled", "enable", "type", "mechanism", "mechanisms",
        "method", "methods", "mode", "count", "size", "max", "min", "ttl", "expiry", "retries", "protocol",
    }
)  # fmt: skip
# Keys that name the other fields of their object (name/value pairs): config_name, key, param, ...
NAME_WORDS: Final = frozenset(
    {"name", "key", "param", "parameter", "property", "prop", "field", "option", "setting", "attribute", "attr"}
)

_WORD = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")


def key_words(key: str) -> list[str]:
    """The words of a key, lowercased: split at non-alphanumerics and camelCase boundaries."""
    return [w.lower() for w in _WORD.findall(key)]


def is_secret_key(key: object) -> bool:
    """True when a key (of an object, a header, a ``key=value`` pair) names something secret."""
    return isinstance(key, str) and bool(key) and _secret_words(key)


@functools.lru_cache(maxsize=8192)
def _secret_words(key: str) -> bool:
    words = key_words(key)
    if not words:
        return False
    if any(w in SECRET_WORDS for w in words):
        return True
    if any(pair in SECRET_PAIRS for pair in itertools.pairwise(words)):
        return True
    glued = "".join(words)
    if any(word in glued for word in GLUED_WORDS):
        return True
    return any(w in WEAK_WORDS for w in words) and words[-1] not in SETTING_SUFFIXES


def is_name_key(key: object) -> bool:
    """True for keys that name their object's other fields (``name``, ``config_name``, ``key``...)."""
    return isinstance(key, str) and _names_fields(key)


@functools.lru_cache(maxsize=8192)
def _names_fields(key: str) -> bool:
    words = key_words(key)
    return bool(words) and words[-1] in NAME_WORDS


# -- registered secrets -----------------------------------------------------------------------------------------

_known: set[str] = set()
_known_sorted: list[str] = []
_lock = threading.Lock()
MIN_REGISTERED_LENGTH: Final = 6  # shorter strings would mask ordinary words


def register_secret(value: str) -> None:
    """Remember a secret value so that it is masked wherever it shows up (logs, errors, results)."""
    global _known_sorted
    if len(value) < MIN_REGISTERED_LENGTH:
        return
    with _lock:
        if value not in _known:
            _known.add(value)
            _known_sorted = sorted(_known, key=len, reverse=True)  # a secret containing another is masked whole


class Secret:
    """A string that shows ``***`` in ``str``/``repr``; ``reveal()`` is the only way in."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value
        register_secret(value)

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)


def _mask_registered(text: str) -> str:
    for value in _known_sorted:
        if value in text:
            text = text.replace(value, MASK)
    return text


# -- decoded documents --------------------------------------------------------------------------------------------


def mask_value(value: Any, depth: int = 0) -> Any:
    """A decoded JSON value with every secret masked (objects, arrays, strings, at any depth)."""
    if depth >= MAX_DEPTH:
        return DEEP_MASK if isinstance(value, dict | list) else _mask_scalar(value)
    if isinstance(value, dict):
        return _mask_object(value, depth)
    if isinstance(value, list):
        return _mask_array(value, depth)
    return _mask_scalar(value)


def _mask_scalar(value: Any) -> Any:
    return mask_text(value) if isinstance(value, str) else value


def _mask_object(obj: dict[str, Any], depth: int) -> dict[str, Any]:
    # a name/value pair whose name is secret-like: everything but the names is the secret's
    pair_secret = any(is_name_key(k) and isinstance(v, str) and is_secret_key(v) for k, v in obj.items())
    out: dict[str, Any] = {}
    for key, item in obj.items():
        if is_secret_key(key) or (pair_secret and not is_name_key(key)):
            out[key] = item if item is None or item == "" else MASK
        else:
            out[key] = mask_value(item, depth + 1)
    return out


def _mask_array(items: list[Any], depth: int) -> list[Any]:
    # ["ssl.key.password", "value"]: a pair written as a two-element array
    if len(items) == 2 and isinstance(items[0], str) and is_secret_key(items[0]):
        return [items[0], MASK]
    return [mask_value(item, depth + 1) for item in items]


# -- free text ----------------------------------------------------------------------------------------------------

_PEM = re.compile(r"-----BEGIN ([A-Z0-9 ]{1,40})-----.*?(?:-----END \1-----|\Z)", re.DOTALL)
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]{0,30}://)[^\s/?#@'\"<>]{1,256}@")
_BARE_USERINFO = re.compile(r"(?<![\w/@.:*-])[\w.%+-]{1,64}:[^\s/@'\"<>*]{1,256}@(?=[\w.-])")
# Authorization header values: a scheme and a credential-shaped word (long enough not to be prose)
_AUTH_SCHEME = re.compile(
    r"(?i)\b(Bearer|Basic|Digest|Negotiate|NTLM)(\s+)(?!<)(?!(?-i:[A-Z]?[a-z]+)(?:[\s,;)'\"]|$))[A-Za-z0-9._~+/=-]{8,}"
)  # a credential-shaped word, not a plain one ("Basic Information page")
_SCHEME_WORDS = re.compile(r"(?i)bearer|basic|digest|negotiate|ntlm")
_SIGNATURE_HEADER = re.compile(r"\b((?:SDK|AWS4)-HMAC-SHA256)\s+Access=[^\r\n'\"]*")
# ('x-auth-token', 'VALUE') / (b'x-subject-token', b'VALUE'): header tuples in reprs of HTTP traces
_HEADER_TUPLE = re.compile(r"""([(\[]\s*b?(['"])([\w.-]{1,80})\2\s*,\s*b?(['"]))(.*?)(\4)""")
# key=value / key: value / "key": "value" / \"key\": \"value\" (escaped, as inside an encoded string)
_PAIR = re.compile(
    r"""(?<![\w.\-/])(?P<kq>\\*["'])?(?P<key>[A-Za-z_][\w.\-/]{0,80})(?P=kq)?(?P<sep>\s*(?:=>|[=:])\s*)"""
    r"""(?P<value>\\+"(?:(?!\\+").)*(?:\\+"|$)|"(?:\\.|[^"\\\n])*(?:"|$)|'(?:\\.|[^'\\\n])*(?:'|$)"""
    r"""|[^\s,;&}\]\)'"]+)""",
    re.MULTILINE,
)
# the rest of a "key: value" line when the value is prose ("password: correct horse battery staple")
_LINE_REST = re.compile(r"[^\r\n,;'\")\]}]*")
_PLACEHOLDER = re.compile(r"(?:\w+\s+)?(?:<[\w .:-]+>|\$\{[\w.:-]+\}|\.\.\.|\*+)")


_HINT_MARKS: Final = ("=", ":", "@", "-----BEGIN", "eyJ")  # pairs, userinfo, PEM blocks, JWTs
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


def _has_hints(text: str) -> bool:
    """A cheap pre-check, made from the vocabulary: a text with none of these holds no secret we could find.
    Substring tests first (casefold: wider than any regex IGNORECASE), the boundary regex only when needed."""
    if any(map(text.__contains__, _HINT_MARKS)):
        return True
    folded = text.casefold()
    if _HINT_FOLDED.search(folded):
        return True
    return _HINT_FOLDED_SHORT.search(folded) is not None and _HINT_SHORT_WORD.search(text) is not None


MAX_TEXT_DEPTH: Final = 8  # text encoded inside text inside text...: deeper than this is masked whole


def mask_text(text: str, depth: int = 0) -> str:
    """Free text with every secret it may carry replaced by ``***``."""
    if not text:
        return text
    text = _mask_registered(text)
    if not _has_hints(text):
        return text
    if depth > MAX_TEXT_DEPTH:
        return MASK
    # each pattern runs only where the literal it cannot match without is present (the same result, faster)
    if "-----BEGIN" in text:
        text = _PEM.sub(lambda m: f"-----BEGIN {m.group(1)}-----{MASK}", text)
    if "eyJ" in text:
        text = _JWT.sub(MASK, text)
    if "@" in text:
        text = _URL_USERINFO.sub(lambda m: f"{m.group(1)}{MASK}@", text)
        text = _BARE_USERINFO.sub(f"{MASK}@", text)
    if _SCHEME_WORDS.search(text):
        text = _AUTH_SCHEME.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)
    if "-HMAC-SHA256" in text:
        text = _SIGNATURE_HEADER.sub(lambda m: f"{m.group(1)} {MASK}", text)
    if "(" in text or "[" in text:
        text = _HEADER_TUPLE.sub(_mask_header_tuple, text)
    if ("{" in text or "[" in text) and ('"' in text or "'" in text):
        text = _mask_tokens(text, depth)
    return _mask_pairs(text)


def _mask_header_tuple(match: re.Match[str]) -> str:
    return match.group(1) + MASK + match.group(6) if is_secret_key(match.group(3)) else match.group(0)


def _mask_pairs(text: str) -> str:
    out: list[str] = []
    last = 0
    for match in _PAIR.finditer(text):
        if match.start() < last or not is_secret_key(match.group("key")):
            continue
        start, end = match.start("value"), match.end("value")
        value = match.group("value")
        quote = value[0] if value[0] in _QUOTES else ""
        if not quote and ":" in match.group("sep"):
            end += _LINE_REST.match(text, end).end() - end  # type: ignore[union-attr]
            value = text[start:end]
        if MASK in value or _PLACEHOLDER.fullmatch(value.strip().strip("'\"\\")):
            continue  # an instruction such as 'Authorization: Bearer <token>', not a credential
        out.append(text[last:start])
        out.append(_masked_token(value) if quote else MASK)
        last = end
    out.append(text[last:])
    return "".join(out)


# JSON-ish tokens of text that is not valid JSON: strings (possibly unterminated), punctuation, bare words.
_TOKEN = re.compile(
    r"""\\+"(?:(?!\\+").)*(?:\\+"|$)|"(?:\\.|[^"\\])*\\?(?:"|$)|'(?:\\.|[^'\\])*\\?(?:'|$)|[{}\[\]:,=]"""
    r"""|[^\s{}\[\]:,="']+""",
    re.DOTALL,
)


_QUOTES = frozenset("'\"\\")
_OPEN = frozenset("{[")
_CLOSE = frozenset("}]")
_PUNCTUATION = frozenset("{}[]:,=")


def _mask_tokens(text: str, depth: int) -> str:
    """Mask JSON-like text piece by piece, so that a ``NaN``, a trailing comma or a cut-off end does not stop
    the rules: the value after a secret-like key, and every value of an object whose name field is secret-like
    (in either order). Strings inside are masked as text of their own (JSON encoded in JSON)."""
    tokens = [(m.start(), m.end(), m.group(0)) for m in _TOKEN.finditer(text)]
    masked = _secret_spans(tokens)
    out: list[str] = []
    last = 0
    for index, (start, end, piece) in enumerate(tokens):
        if start < last:
            continue
        out.append(text[last:start])
        span_end = masked.get(index)
        if span_end is not None:
            out.append(_masked_token(piece) if span_end == index else piece[:1] + MASK)
            last = tokens[span_end][1] if span_end != index else end
            if span_end != index and tokens[span_end][2] in _CLOSE:
                out.append(tokens[span_end][2])
            continue
        out.append(_mask_string_token(piece, depth) if piece[0] in _QUOTES else piece)
        last = end
    out.append(text[last:])
    return "".join(out)


def _secret_spans(tokens: list[tuple[int, int, str]]) -> dict[int, int]:
    """Token index of each masked value -> index of its last piece (itself for a scalar)."""
    stack: list[int] = [-1]  # index of the innermost open object or array (-1: top level)
    owner: list[int] = []  # innermost container of each piece
    closes: dict[int, int] = {}
    for index, (_, _, piece) in enumerate(tokens):
        if piece in _CLOSE and len(stack) > 1:
            closes[stack.pop()] = index
        owner.append(stack[-1])
        if piece in _OPEN:
            stack.append(index)
    pairs = _key_values(tokens)
    secret_objects = {
        owner[k] for k, v in pairs if is_name_key(_unquote(tokens[k][2])) and is_secret_key(_unquote(tokens[v][2]))
    }
    spans: dict[int, int] = {}
    for key_index, value_index in pairs + _array_pairs(tokens, owner):
        key = _unquote(tokens[key_index][2])
        if is_secret_key(key) or (owner[key_index] in secret_objects and not is_name_key(key)):
            piece = tokens[value_index][2]
            spans[value_index] = closes.get(value_index, len(tokens) - 1) if piece in _OPEN else value_index
    return spans


def _array_pairs(tokens: list[tuple[int, int, str]], owner: list[int]) -> list[tuple[int, int]]:
    """(name, value) index pairs written as arrays: ``["ssl.key.password", "value"]``."""
    pairs: list[tuple[int, int]] = []
    for index in range(len(tokens) - 2):
        inside = owner[index]
        name, sep, value = tokens[index][2], tokens[index + 1][2], tokens[index + 2][2]
        in_array = inside >= 0 and tokens[inside][2] == "[" and sep == ","
        if (
            in_array
            and name not in _PUNCTUATION
            and value not in _PUNCTUATION - _OPEN
            and is_secret_key(_unquote(name))
        ):
            pairs.append((index, index + 2))
    return pairs


def _key_values(tokens: list[tuple[int, int, str]]) -> list[tuple[int, int]]:
    """(key piece, value piece) index pairs: a word or string, then ``:`` or ``=``, then a value."""
    pairs: list[tuple[int, int]] = []
    for index in range(len(tokens) - 2):
        key, sep, value = tokens[index][2], tokens[index + 1][2], tokens[index + 2][2]
        if sep in (":", "=") and key not in _PUNCTUATION and value not in _PUNCTUATION - _OPEN:
            pairs.append((index, index + 2))
    return pairs


def _unquote(piece: str) -> str:
    return piece.lstrip("\\").strip("\"'").rstrip("\\")


def _masked_token(piece: str) -> str:
    stripped = piece.lstrip("\\")
    prefix = piece[: len(piece) - len(stripped)]
    if stripped[:1] in ("'", '"'):
        quote = stripped[0]
        closed = len(stripped) > 1 and stripped.endswith(quote)
        return f"{prefix}{quote}{MASK}{prefix + quote if closed else ''}"
    return MASK


def _mask_string_token(piece: str, depth: int) -> str:
    """A quoted string inside JSON-like text, masked as text of its own (it may hold JSON itself)."""
    stripped = piece.lstrip("\\")
    prefix = piece[: len(piece) - len(stripped)]
    quote = stripped[:1]
    close = prefix + quote
    closed = len(stripped) > len(close) and piece.endswith(close) and bool(prefix or not piece.endswith("\\" + quote))
    body = piece[len(close) : len(piece) - len(close)] if closed else piece[len(close) :]
    tail = close if closed else ""
    if prefix or "\\" not in body:
        return close + mask_text(body, depth + 1) + tail
    # one level of escaping: JSON encoded inside this string
    inner = body.replace("\\\\", "\x00").replace("\\" + quote, quote).replace("\x00", "\\")
    masked = mask_text(inner, depth + 1)
    if masked == inner:
        return piece
    return close + masked.replace("\\", "\\\\").replace(quote, "\\" + quote) + tail


# -- echoing what a caller sent ----------------------------------------------------------------------------------

_UNSHOWN = re.compile(r"[^\x20-\x7e]|['\"\\=:@`]")


def shown(value: object, limit: int = 80) -> str:
    """A value a caller sent, quoted for an error message: printable ASCII only, without the quotes, ``=``, ``:``
    and ``@`` that could pair with our own words into something the masking would take for a secret."""
    text = value if isinstance(value, str) else repr(value)
    return "'" + _UNSHOWN.sub("?", text[:limit]) + "'" + ("..." if len(text) > limit else "")


# -- log records --------------------------------------------------------------------------------------------------


class RedactingFilter(logging.Filter):
    """Masks secrets in a record's final message (arguments included), its traceback and stack."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "bgtask_masked", False):
            return True  # masked by the filter on its logger already; handlers need not do it again
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: leave it to the handler to report
            return True
        cleaned = mask_text(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        record.bgtask_masked = True
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = mask_text(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = mask_text(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_text(record.stack_info)
        return True


_FILTER = RedactingFilter()
# loggers that trace request and response headers (an IAM login's X-Subject-Token among them) at DEBUG
HTTP_LOGGERS: Final = (
    "httpx2",
    "httpcore2.connection",
    "httpcore2.http11",
    "httpcore2.http2",
    "httpcore2.proxy",
    "httpcore2.socks",
)


def protect_loggers(*names: str) -> None:
    """Put the redacting filter on these loggers themselves (idempotent): what they log is masked before any
    handler, ours or anyone's, sees it."""
    for name in names or HTTP_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)


def get_logger(name: str) -> logging.Logger:
    """A logger whose records are masked at the source, before any handler (ours or anyone's) sees them."""
    logger = logging.getLogger(name)
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
    return logger
