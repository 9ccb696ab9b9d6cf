"""One redaction step for everything that leaves the process: errors, logs, pull request
bodies and comments, suggested commands and the journal.

It removes the values of secret environment variables (``GITHUB_TOKEN``, the broker keys,
...), the user-info of URLs (``https://user:token@host``), password-like query parameters
and ``Authorization`` headers.
"""

from __future__ import annotations

import os
import re

MASK = "***"
# Environment variables whose values are secrets wherever they appear.
SECRET_ENV = ("GITHUB_TOKEN", "GH_TOKEN", "OTONOM_FORGE_TOKEN", "APCA_API_KEY_ID",
              "APCA_API_SECRET_KEY", "PGPASSWORD")
_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<info>[^/@\s'\"]+)@")
_QUERY_SECRET = re.compile(
    r"(?P<key>[?&;](?:password|passwd|pwd|token|access_token|secret|api_key|apikey|key)=)"
    r"(?P<value>[^&;#\s'\"]+)", re.IGNORECASE)
_AUTH_HEADER = re.compile(
    r"(?P<key>['\"]?(?:authorization|proxy-authorization|x-api-key|apca-api-secret-key|"
    r"apca-api-key-id)['\"]?\s*[:=]\s*['\"]?)"
    r"(?P<value>(?:(?:token|bearer|basic)\s+)?[^\s'\",}]+)", re.IGNORECASE)
_MIN_SECRET_LEN = 4  # shorter values would mask ordinary words


def _secret_values(extra: tuple[str, ...] = ()) -> list[str]:
    values = {os.environ.get(name, "") for name in SECRET_ENV} | set(extra)
    return sorted((v for v in values if v and len(v) >= _MIN_SECRET_LEN), key=len, reverse=True)


def redact(text: object, *secrets: str) -> str:
    """``text`` as a string with every secret replaced by ``***``; ``secrets`` adds values
    known to the caller (a token passed by argument, a password from a URL)."""
    out = str(text)
    for value in _secret_values(secrets):
        out = out.replace(value, MASK)
    out = _USERINFO.sub(lambda m: f"{m['scheme']}{MASK}@", out)
    out = _QUERY_SECRET.sub(lambda m: f"{m['key']}{MASK}", out)
    return _AUTH_HEADER.sub(lambda m: f"{m['key']}{MASK}", out)
