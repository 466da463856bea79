"""Which keys name a secret: the vocabulary every rule shares.

A key is matched on its words, split at ``_ . - /``, spaces and camelCase, so ``dbPwd``, ``DB_PASSWORD`` and
``connectionString`` name secrets while ``partition_key``, ``skip`` or ``bypass`` do not. A key that names a
setting *about* a secret is not a secret: ``ssl.truststore.location``, ``ssl.keystore.type``,
``sasl.mechanism``, ``sasl.username``, ``password.policy``: a model needs them to explain a TLS or SASL change.
"""

from __future__ import annotations

import functools
import itertools
import re
from typing import Final

MAX_KEY_CHARACTERS: Final = 200  # a longer "key" is text, not a key: judged on its first characters only

# A key holding any of these words (or containing one of the long ones, glued) names a secret.
SECRET_WORDS: Final = frozenset(
    {
        "password", "passwd", "pwd", "pw", "pass", "passphrase", "passcode", "pin", "secret", "secrets", "token",
        "tokens", "credential", "credentials", "cred", "creds", "cookie", "cookies", "jaas", "keystore",
        "truststore", "keytab", "dsn", "authorization", "bearer", "signature", "ak", "sk", "otp", "privatekey",
        "apikey", "accesskey", "secretkey", "connectionstring", "connstr", "sessionid", "sessionkey", "storepass",
        "keypass", "srcstorepass", "deststorepass", "srckeypass", "destkeypass", "passin", "passout", "psk",
        "privkey", "hmac",
    }
)  # fmt: skip
# Words long and unusual enough to spot inside glued keys (``dbpassword``, ``pgpassword``).
GLUED_WORDS: Final = (
    "password", "passwd", "pwd", "passphrase", "passcode", "secret", "token", "credential", "cookie", "jaas",
    "keystore", "truststore", "keytab", "privatekey", "apikey", "accesskey", "secretkey", "connectionstring",
    "connstr", "authorization", "storepass", "keypass",
)  # fmt: skip
# Adjacent word pairs that name a secret: private key, api key, connection string, ...
SECRET_PAIRS: Final = frozenset(
    {
        ("private", "key"), ("api", "key"), ("access", "key"), ("secret", "key"), ("auth", "key"),
        ("master", "key"), ("encryption", "key"), ("signing", "key"), ("client", "key"), ("session", "key"),
        ("session", "id"), ("connection", "string"), ("conn", "string"), ("conn", "str"), ("access", "id"),
        ("security", "token"), ("sas", "key"), ("key", "password"), ("key", "pass"),
    }
)  # fmt: skip
# Words that name a secret unless the key ends in a word that says it holds a setting (``sasl.mechanism``).
WEAK_WORDS: Final = frozenset({"session", "auth", "authentication", "login", "sasl", "oauth", "userinfo"})
# A key ending in one of these holds a setting about a secret, not the secret (``ssl.keystore.location``).
SETTING_SUFFIXES: Final = frozenset(
    {
        "timeout", "ms", "seconds", "secs", "interval", "enabled", "enable", "type", "types", "mechanism",
        "mechanisms", "method", "methods", "mode", "count", "size", "max", "min", "ttl", "expiry", "expires",
        "expiration", "retries", "protocol", "protocols", "location", "path", "file", "filename", "dir",
        "format", "algorithm", "algorithms", "provider", "policy", "length", "version", "username", "user",
        "users", "principal", "realm", "class", "callback", "handler", "required", "rotation", "age", "url",
        "endpoint", "uri", "status", "strength", "complexity",
    }
)  # fmt: skip
# Keys that name the other fields of their object (name/value pairs): config_name, key, param, ...
NAME_WORDS: Final = frozenset(
    {"name", "key", "param", "parameter", "property", "prop", "field", "option", "setting", "attribute", "attr"}
)

_WORD = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")


def key_words(key: str) -> list[str]:
    """The words of a key, lowercased: split at non-alphanumerics and camelCase boundaries."""
    return [w.lower() for w in _WORD.findall(key[:MAX_KEY_CHARACTERS])]


def is_secret_key(key: object) -> bool:
    """True when a key (of an object, a header, a ``key=value`` pair, a ``--flag``) names something secret."""
    return isinstance(key, str) and bool(key) and _secret_words(key[:MAX_KEY_CHARACTERS])


@functools.lru_cache(maxsize=4096)  # keys are bounded in length above, so the cache is bounded in bytes too
def _secret_words(key: str) -> bool:
    words = key_words(key)
    if not words:
        return False
    if len(words) > 1 and words[-1] in SETTING_SUFFIXES:
        return False  # ssl.truststore.location, sasl.mechanism, password.policy: about a secret, not one
    if any(w in SECRET_WORDS for w in words):
        return True
    if any(pair in SECRET_PAIRS for pair in itertools.pairwise(words)):
        return True
    glued = "".join(words)
    if any(word in glued for word in GLUED_WORDS):
        return True
    return any(w in WEAK_WORDS for w in words)


def is_name_key(key: object) -> bool:
    """True for keys that name their object's other fields (``name``, ``config_name``, ``key``...), and are no
    secret themselves (``privateKey`` ends in "key" but holds the key)."""
    return isinstance(key, str) and _names_fields(key[:MAX_KEY_CHARACTERS])


@functools.lru_cache(maxsize=4096)
def _names_fields(key: str) -> bool:
    words = key_words(key)
    return bool(words) and words[-1] in NAME_WORDS and not _secret_words(key)


def secret_flag(item: object) -> bool:
    """A command-line argument that says the next argument is a secret: ``--password``, ``-storepass``, ``-p``."""
    if not isinstance(item, str) or not item.startswith("-") or "=" in item:
        return False
    name = item.lstrip("-")
    return name == "p" or is_secret_key(name)
