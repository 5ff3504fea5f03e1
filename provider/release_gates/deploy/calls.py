"""Every AWS call a target or check makes goes through :func:`aws_call`: it is logged and its errors
are sorted into the few kinds a drill must tell apart.

* transient (throttling, 5xx, dropped connections): retrying may help;
* access denied: the credentials lack a permission — retrying cannot help;
* not found: the target or version does not exist;
* anything else: a hard error.

The log keeps the facts an auditor needs (operation, time, HTTP status, request id, botocore's own
retry count, error code) and never request or response bodies.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from release_gates.exceptions import ReleaseGatesError

THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "SlowDown",
        "PriorRequestNotComplete",
        "ProvisionedThroughputExceededException",
    }
)
TRANSIENT_CODES = THROTTLING_CODES | {
    "RequestTimeout",
    "RequestTimeoutException",
    "InternalError",
    "InternalFailure",
    "InternalServerError",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "ServerException",
    "ServiceException",
    # Lambda: "an update is in progress" for the function — clears once the update settles.
    "ResourceConflictException",
}
ACCESS_DENIED_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "AuthorizationError",
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "ExpiredTokenException",
        "MissingAuthenticationToken",
    }
)
NOT_FOUND_CODES = frozenset(
    {
        "ResourceNotFoundException",
        "ServiceNotFoundException",
        "ServiceNotActiveException",
        "ClusterNotFoundException",
        "NoSuchKey",
        "NoSuchBucket",
        "NoSuchVersion",
        "NoSuchEntity",
        "NotFound",
        "404",
    }
)


class TargetError(ReleaseGatesError, RuntimeError):
    """An AWS call (or a platform condition) stopped a target operation.

    ``transient`` says whether trying again may succeed; the drill retries only those.
    """

    def __init__(
        self,
        message: str,
        *,
        service: str | None = None,
        operation: str | None = None,
        code: str | None = None,
        http_status: int | None = None,
        request_id: str | None = None,
        transient: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.service = service
        self.operation = operation
        self.code = code
        self.http_status = http_status
        self.request_id = request_id
        self.transient = transient

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": type(self).__name__,
            "message": self.message,
            "service": self.service,
            "operation": self.operation,
            "code": self.code,
            "http_status": self.http_status,
            "request_id": self.request_id,
            "transient": self.transient,
        }


class TargetAccessDeniedError(TargetError):
    """The credentials lack a permission the operation needs."""


class TargetNotFoundError(TargetError):
    """The target, or a version of it, does not exist."""


class TargetNotStableError(TargetError):
    """The target did not settle within the time allowed (a measurement, not a fault)."""


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class ApiCallLog:
    """The calls made so far, oldest first; :meth:`drain` hands them over to whoever records them.

    Bounded: a very long wait keeps the first ``limit`` calls and counts the rest in ``dropped``.
    """

    def __init__(self, limit: int = 2000) -> None:
        self.limit = limit
        self.dropped = 0
        self._calls: list[dict[str, Any]] = []

    def add(self, entry: dict[str, Any]) -> None:
        if len(self._calls) >= self.limit:
            self.dropped += 1
            return
        self._calls.append(entry)

    def drain(self) -> list[dict[str, Any]]:
        calls, self._calls = self._calls, []
        return calls

    def __len__(self) -> int:
        return len(self._calls)


def _operation_name(client: Any, method: str) -> str:
    mapping = getattr(getattr(client, "meta", None), "method_to_api_mapping", None) or {}
    return str(mapping.get(method, method))


def _service_name(client: Any) -> str:
    try:
        return str(client.meta.service_model.service_name)
    except AttributeError:
        return "unknown"


def aws_call(client: Any, method: str, log: ApiCallLog | None = None, **params: Any) -> dict[str, Any]:
    """``client.<method>(**params)``, logged; botocore errors become :class:`TargetError` subclasses."""
    operation = _operation_name(client, method)
    service = _service_name(client)
    at = now_iso()
    started = time.monotonic()
    try:
        response: dict[str, Any] = getattr(client, method)(**params)
    except Exception as exc:
        error = translate_error(exc, service=service, operation=operation)
        if log is not None:
            log.add(
                {
                    "service": service,
                    "operation": operation,
                    "at": at,
                    "duration_ms": round((time.monotonic() - started) * 1000, 2),
                    "http_status": error.http_status,
                    "request_id": error.request_id,
                    "error": error.code,
                    "retry_attempts": _retry_attempts(exc),
                }
            )
        raise error from exc
    meta: Mapping[str, Any] = response.get("ResponseMetadata") or {}
    if log is not None:
        log.add(
            {
                "service": service,
                "operation": operation,
                "at": at,
                "duration_ms": round((time.monotonic() - started) * 1000, 2),
                "http_status": meta.get("HTTPStatusCode"),
                "request_id": meta.get("RequestId"),
                "retry_attempts": meta.get("RetryAttempts", 0),
            }
        )
    return response


def _retry_attempts(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    if isinstance(response, Mapping):
        attempts = (response.get("ResponseMetadata") or {}).get("RetryAttempts")
        return int(attempts) if attempts is not None else None
    return None


def translate_error(exc: BaseException, *, service: str, operation: str) -> TargetError:
    """Sort a botocore (or network) exception into the kinds of :class:`TargetError`."""
    if isinstance(exc, TargetError):
        return exc
    response = getattr(exc, "response", None)
    if isinstance(response, Mapping) and "Error" in response:
        error = response.get("Error") or {}
        meta = response.get("ResponseMetadata") or {}
        code = str(error.get("Code") or "Unknown")
        status = meta.get("HTTPStatusCode")
        request_id = meta.get("RequestId")
        message = f"{service} {operation}: {code}: {error.get('Message') or 'no message'}"
        kwargs: dict[str, Any] = {
            "service": service,
            "operation": operation,
            "code": code,
            "http_status": status,
            "request_id": request_id,
        }
        if code in ACCESS_DENIED_CODES or status == 403:
            return TargetAccessDeniedError(message, **kwargs)
        if code in NOT_FOUND_CODES or status == 404:
            return TargetNotFoundError(message, **kwargs)
        transient = code in TRANSIENT_CODES or (isinstance(status, int) and status >= 500)
        return TargetError(message, transient=transient, **kwargs)
    # No service response: connection refused/reset, timeouts, unparseable bodies. A network fault may
    # clear on its own; anything else (bad parameters caught client-side) will not.
    transient = _is_network_error(exc)
    return TargetError(
        f"{service} {operation}: {type(exc).__name__}: {exc}",
        service=service,
        operation=operation,
        code=type(exc).__name__,
        transient=transient,
    )


def _is_network_error(exc: BaseException) -> bool:
    from botocore.exceptions import HTTPClientError  # type: ignore[import-untyped]

    return isinstance(exc, HTTPClientError | ConnectionError | TimeoutError)
