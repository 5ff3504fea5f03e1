"""Credentials out of free text before it is recorded or sent: URLs with passwords, secret-named values.

:func:`redact_credentials` is for text that is kept or shown whole — the policy file the seal records
(``policy_snapshot``), notification bodies. Each URL is masked by
:func:`release_gates.datasets.mask_password_in_text` (the one rule for where a URL's password ends,
with every other character kept as written, so the text still parses), and the value of every key
whose name says it holds a credential (``password``, ``token``, ``secret``, ``api_key`` …, alone or
as a suffix such as ``db_password``) becomes ``'***'``, quoted so that YAML still reads it as a
string (a bare ``*`` starts an alias). A PEM private key block becomes ``PRIVATE-KEY-REDACTED``.
"""

from __future__ import annotations

import re

from release_gates.datasets import mask_password_in_text

REDACTED = "'***'"

# A PEM private key anywhere in the text (pasted where a public key belongs), BEGIN to END line: a plain
# word replaces it, valid in a block scalar, a quoted string or a plain one alike.
_PRIVATE_PEM = re.compile(
    r"-----BEGIN (?P<type>[A-Z0-9 ]*)PRIVATE KEY-----.*?-----END (?P=type)PRIVATE KEY-----", re.DOTALL
)
PRIVATE_KEY_REDACTED = "PRIVATE-KEY-REDACTED"
# A URL runs to the first whitespace or quote after its scheme (a doubled '' is a quote inside a
# single-quoted YAML scalar, so it belongs to the URL); mask_password_in_text then finds the password
# inside it, whatever it holds ('/', '#', ':', ',', '@' …), and changes nothing else.
_URL = re.compile(r"""[A-Za-z][A-Za-z0-9+.-]*://(?:[^\s"'<>]|'')+""")
_SECRET_KEY = (
    r"(?:[A-Za-z0-9]+[_-])*"
    r"(?:password|passwd|pwd|passphrase|token|secret|api[_-]?key|access[_-]?key|secret[_-]?key"
    r"|private[_-]?key|credentials?)"
)
_QUOTED = r"""(?:"(?:[^"\\\n]|\\.)*"|'(?:[^'\n]|'')*')"""
# key: value in a block mapping (or list item): the value runs to a comment (" #") or the line's end.
_BLOCK_VALUE = re.compile(
    rf"""^(?P<lead>[ \t]*(?:-[ \t]+)?["']?)(?P<key>{_SECRET_KEY})(?P<sep>["']?[ \t]*:[ \t]+)"""
    rf"""(?P<value>{_QUOTED}|[^\s|>#][^\n]*?)(?=[ \t]+#|[ \t]*$)""",
    re.IGNORECASE | re.MULTILINE,
)
# key: value inside a flow mapping ({a: 1, token: x}): the value runs to the next ',' or '}'.
_FLOW_VALUE = re.compile(
    rf"""(?P<lead>[{{,][ \t]*["']?)(?P<key>{_SECRET_KEY})(?P<sep>["']?[ \t]*:[ \t]+)"""
    rf"""(?P<value>{_QUOTED}|[^\s,}}][^,}}\n]*?)(?=[ \t]*[,}}])""",
    re.IGNORECASE,
)


def redact_credentials(text: str) -> tuple[str, int]:
    """``text`` with every credential replaced, and how many were replaced."""
    count = 0

    def value(match: re.Match[str]) -> str:
        nonlocal count
        if match["value"] in (REDACTED, '"***"', "***"):
            return match[0]
        count += 1
        return f"{match['lead']}{match['key']}{match['sep']}{REDACTED}"

    def url(match: re.Match[str]) -> str:
        nonlocal count
        masked = mask_password_in_text(match[0])
        count += masked != match[0]
        return masked

    text = _FLOW_VALUE.sub(value, _BLOCK_VALUE.sub(value, text))
    text, keys = _PRIVATE_PEM.subn(PRIVATE_KEY_REDACTED, text)  # after: a secret-named value counts once
    count += keys
    return _URL.sub(url, text), count


def mask_urls(text: str) -> str:
    """``text`` with the password of every URL in it masked (for log lines and messages)."""
    return _URL.sub(lambda match: mask_password_in_text(match[0]), text)
