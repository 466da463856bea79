"""Text that looks like JSON but is not (a ``NaN``, a trailing comma, a cut-off end, a Python ``repr`` with single
quotes), masked piece by piece so that no parse error stops the rules: the value after a secret-like key, the
values of an object whose name field names a secret (in either order), the element after a secret name in an
array. Quoted strings inside are masked as text of their own (JSON encoded in JSON), through the text masker
the caller passes in.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from bgtask_mcp.redaction.keys import is_name_key, is_secret_key, secret_flag
from bgtask_mcp.redaction.rules import MASK, PORT_LIKE, QUOTES, masked_token

TextMasker = Callable[[str, int], str]

# JSON-ish tokens of text that is not valid JSON: strings (possibly unterminated), punctuation, bare words.
_TOKEN = re.compile(
    r"""\\+"(?:(?!\\+").)*(?:\\+"|$)|"(?:\\.|[^"\\])*\\?(?:"|$)|'(?:\\.|[^'\\])*\\?(?:'|$)|[{}\[\]:,=]"""
    r"""|[^\s{}\[\]:,="']+""",
    re.DOTALL,
)


_OPEN = frozenset("{[")
_CLOSE = frozenset("}]")
_PUNCTUATION = frozenset("{}[]:,=")


def mask_tokens(text: str, depth: int, mask_text: TextMasker) -> str:
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
            out.append(masked_token(piece) if span_end == index else piece[:1] + MASK)
            last = tokens[span_end][1] if span_end != index else end
            if span_end != index and tokens[span_end][2] in _CLOSE:
                out.append(tokens[span_end][2])
            continue
        out.append(_mask_string_token(piece, depth, mask_text) if piece[0] in QUOTES else piece)
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
    # objects whose name field names a secret (a name/value pair): their other fields are the secret's
    secret_objects = {
        owner[k] for k, v in pairs if is_name_key(_unquote(tokens[k][2])) and _names_a_secret(tokens[v][2])
    }
    spans: dict[int, int] = {}
    secret_values = [
        v
        for k, v in pairs
        if is_secret_key(key := _unquote(tokens[k][2])) or (owner[k] in secret_objects and not is_name_key(key))
    ]
    for value_index in secret_values + [v for _, v in _array_pairs(tokens, owner)]:
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
        if in_array and name not in _PUNCTUATION and value not in _PUNCTUATION - _OPEN and _names_secret(name, value):
            pairs.append((index, index + 2))
    return pairs


def _names_a_secret(piece: str) -> bool:
    """The value of a name field names a secret, or was cut off before it could say (fail closed)."""
    stripped = piece.lstrip("\\")
    cut_off = stripped[:1] in ("'", '"') and (len(stripped) == 1 or not stripped.endswith(stripped[0]))
    return cut_off or is_secret_key(_unquote(piece))


def _names_secret(name: str, value: str) -> bool:
    """The array element ``name`` says the next one, ``value``, is a secret (a secret name, or a secret flag
    of an argument list whose value is no port)."""
    flag, argument = _unquote(name), _unquote(value)
    if flag == "-p":
        return not argument.startswith("-") and PORT_LIKE.fullmatch(argument) is None
    return is_secret_key(flag) or (secret_flag(flag) and not argument.startswith("-"))


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


def _mask_string_token(piece: str, depth: int, mask_text: TextMasker) -> str:
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
