"""An HTTP health probe: the platform may say "stable" while the model behind it cannot answer.

``GET url`` must answer with the expected status within the timeout; optionally a field of the JSON
body (dotted path, list indices allowed: ``checks.0.status``) must hold an expected value, or be
truthy when no value is given. The result keeps status, timing and the reason — never the body.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from typing import Any

_MISSING = object()


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    url: str
    status: int | None
    elapsed_ms: float
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class HttpProbe:
    url: str
    expected_status: int = 200
    json_field: str | None = None
    json_value: Any = None
    timeout: float = 5.0

    def check(self) -> ProbeResult:
        started = time.monotonic()

        def result(ok: bool, status: int | None, reason: str) -> ProbeResult:
            elapsed = round((time.monotonic() - started) * 1000, 2)
            return ProbeResult(ok=ok, url=self.url, status=status, elapsed_ms=elapsed, reason=reason)

        request = urllib.request.Request(self.url, headers={"Accept": "application/json"}, method="GET")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                status = int(response.status)
                body = response.read(1 << 20) if self.json_field else b""
        except urllib.error.HTTPError as exc:
            status, body = exc.code, b""
        except TimeoutError:
            return result(False, None, f"no answer within {self.timeout:g} s")
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                return result(False, None, f"no answer within {self.timeout:g} s")
            return result(False, None, f"unreachable: {exc.reason}")
        except OSError as exc:
            return result(False, None, f"unreachable: {exc}")
        if status != self.expected_status:
            return result(False, status, f"HTTP {status}, expected {self.expected_status}")
        if self.json_field is None:
            return result(True, status, f"HTTP {status}")
        try:
            document = json.loads(body)
        except ValueError:
            return result(False, status, "body is not JSON")
        value = _lookup(document, self.json_field)
        if value is _MISSING:
            return result(False, status, f"JSON field {self.json_field!r} is missing")
        expected_ok = bool(value) if self.json_value is None else _same(value, self.json_value)
        if not expected_ok:
            # The field's value is a health status word chosen by the service, not user data.
            wanted = "a truthy value" if self.json_value is None else repr(self.json_value)
            return result(False, status, f"JSON field {self.json_field!r} is {value!r}, expected {wanted}")
        return result(True, status, f"HTTP {status}, {self.json_field} ok")


def _lookup(document: Any, path: str) -> Any:
    node = document
    for part in path.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.lstrip("-").isdigit() and -len(node) <= int(part) < len(node):
            node = node[int(part)]
        else:
            return _MISSING
    return node


def _same(actual: Any, expected: Any) -> bool:
    if isinstance(expected, str) and not isinstance(actual, str):
        return str(actual).lower() == expected.lower()
    return bool(actual == expected)
