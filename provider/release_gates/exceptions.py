"""Every error this provider raises, under one base: ``except ReleaseGatesError`` catches them all.

Each class also subclasses the built-in it has always been (``ValueError`` for bad input,
``RuntimeError`` for a tool or service that could not do its part), so callers that catch broadly
keep working. A check that raises one of them ends as an ERROR result, recorded before the task
fails. Each class says whether trying again may help (``transient``): a service down, a timeout or
throttling is retried; bad input — a missing file, out-of-set labels, a policy problem, a hash that
does not match — fails the task at once, because a retry reads the same input and fails the same way
(:func:`is_transient` classifies any exception, ours or not).

This module imports nothing of the provider: every layer may raise these.
"""

from __future__ import annotations


class ReleaseGatesError(Exception):
    """Base of every error raised by ``release_gates``.

    ``transient`` is False by default: our errors mostly describe input that a retry would read again.
    """

    #: Whether trying again may succeed (a service down, a timeout, throttling).
    transient: bool = False


# -- input: the policy, datasets and files a check reads (bad input → ERROR result, exit 2 on the CLI) --


class DatasetError(ReleaseGatesError, ValueError):
    """A dataset could not be read; the message names the dataset and the reason."""


class InferenceLogError(DatasetError):
    """The inference log could not be read (missing, unreadable, missing columns, bad timestamp type)."""


class FairnessInputError(ReleaseGatesError, ValueError):
    """The evaluation data cannot be scored as binary outcomes; names the column and the problem."""


class DriftInputError(ReleaseGatesError, ValueError):
    """The check cannot run on these inputs (missing column, unknown method): an ERROR result."""


class AggregateLimitError(ReleaseGatesError, RuntimeError):
    """An aggregate query stopped at the engine's memory limit or its timeout (names the dataset and
    the setting to raise). No partial aggregate is returned: the check ends as an ERROR result."""


class AggregateMemoryError(AggregateLimitError):
    """The aggregate query needed more memory than ``aggregate_memory_limit`` (and spilling allows)."""


class AggregateTimeoutError(AggregateLimitError):
    """The aggregate query ran longer than ``aggregate_timeout``; a quieter worker or database may finish."""

    transient = True


class SuiteError(ReleaseGatesError, ValueError):
    """An expectation suite file is missing, not JSON, or holds an expectation GX does not know."""


class ModelLoadError(ReleaseGatesError, RuntimeError):
    """The model could not be loaded safely (hash mismatch, untrusted types, import failure)."""


class TrailError(ReleaseGatesError, ValueError):
    """The evidence could not be read as a release chain (names what and where)."""


# -- Trivy ------------------------------------------------------------------------------------------


class TrivyError(ReleaseGatesError, RuntimeError):
    """Trivy could not run: binary missing or too old, timeout, failed run, DB missing (→ ERROR)."""


class TrivyNotFoundError(TrivyError):
    """No usable ``trivy`` executable."""


class TrivyVersionError(TrivyError):
    """The executable is older than the minimum, or its version cannot be told."""


class TrivyTimeoutError(TrivyError):
    """A Trivy command did not finish within its timeout (it was killed)."""

    transient = True


class TrivyRunError(TrivyError):
    """Trivy exited non-zero; the message quotes the last lines of its error output.

    Transient: the usual causes are a registry or mirror that did not answer (rate limits are already
    retried with backoff inside the hook); a target that cannot be read is refused before Trivy runs.
    """

    transient = True


class TrivyDbMissingError(TrivyError):
    """A vulnerability scan was asked for without downloads, and the cache holds no DB."""


class TrivyReportError(ReleaseGatesError, ValueError):
    """The output is not a Trivy JSON report this reader understands (→ ERROR)."""


class InvalidTargetError(ReleaseGatesError, ValueError):
    """A scan target that must not reach the command line (→ ERROR)."""


# -- evidence ---------------------------------------------------------------------------------------


class EvidenceError(ReleaseGatesError, RuntimeError):
    """The evidence store could not do what was asked (and nothing partial was written).

    Transient: the store's database may be back on the next try. A sealed or unknown chain is not.
    """

    transient = True


class EvidenceSealedError(EvidenceError):
    """The chain was sealed; a sealed release takes no further records."""

    transient = False


class EvidenceNotFoundError(EvidenceError, KeyError):
    """No evidence chain with this release id."""

    transient = False


class BundleError(ReleaseGatesError, ValueError):
    """An exported evidence bundle cannot be read (not JSON, wrong shape)."""


# -- operators --------------------------------------------------------------------------------------


class CheckErrorException(ReleaseGatesError):
    """The check could not run. Raised after the ERROR result was recorded; Airflow retries it when
    the cause is transient (the operator raises a subclass that fails at once when it is not)."""

    transient = True


class DeploymentActionError(ReleaseGatesError):
    """A promotion or rollback could not complete; recorded in evidence first. Airflow retries it."""

    transient = True


# -- classification -------------------------------------------------------------------------------

#: Exception class names (anywhere in the class's MRO) of drivers and SDKs whose errors mean "the
#: service did not answer": matched by name so this module imports none of them.
_TRANSIENT_CLASS_NAMES = frozenset(
    {
        "DisconnectionError",  # sqlalchemy
        "EndpointConnectionError",  # botocore
        "ConnectTimeoutError",
        "ReadTimeoutError",
        "ConnectionClosedError",
        "ConnectError",  # httpx
        "ConnectTimeout",
        "ReadTimeout",
        "PoolTimeout",
        "RemoteDisconnected",
    }
)
#: ``OperationalError`` (sqlalchemy, psycopg2, sqlite3) covers both "server down" and "no such
#: table"; only messages of the first kind make it transient.
_TRANSIENT_MESSAGE_WORDS = (
    "could not connect",
    "connection refused",
    "connection reset",
    "connection timed out",
    "server closed the connection",
    "timeout expired",
    "timed out",
    "too many connections",
    "database is locked",
    "the database system is starting up",
    "the database system is shutting down",
    "temporarily unavailable",
)
#: AWS error codes that say "slow down" or "try again", whatever the client's class.
_TRANSIENT_AWS_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "ProvisionedThroughputExceededException",
        "SlowDown",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "InternalError",
        "InternalFailure",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)


def is_transient(exc: BaseException) -> bool:
    """Whether trying again may succeed: True for a service down, a timeout or throttling.

    The exception and the ones it was raised from (``__cause__``, and ``__context__`` — kept even
    under ``raise … from None``) are looked at: a ``DatasetError`` raised because the database refused
    the connection is transient, one raised for a missing column is not. Our own errors say it in
    ``transient``; an exception of unknown kind counts as transient (retrying it costs minutes,
    failing a release on a blip costs a release), except the built-ins that mean bad input.
    """
    seen: set[int] = set()
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        chain.append(current)
        current = current.__cause__ or current.__context__
    verdicts = [_transient_by_kind(link) for link in chain]
    if any(verdicts):
        return True
    if isinstance(exc, ReleaseGatesError):
        return bool(getattr(exc, "transient", False))
    if verdicts[0] is False:  # a driver or SDK error that names a cause a retry cannot change
        return False
    return not isinstance(exc, _PERMANENT_BUILTINS)


#: Built-in exceptions that mean bad input or a bug: the next try reads the same and fails the same.
_PERMANENT_BUILTINS: tuple[type[BaseException], ...] = (
    ValueError,
    LookupError,
    TypeError,
    AttributeError,
    NotImplementedError,
    FileNotFoundError,
    IsADirectoryError,
    NotADirectoryError,
    PermissionError,
    UnicodeError,
)


def _transient_by_kind(exc: BaseException) -> bool | None:
    """True: a retry may help; False: a database or AWS error whose cause it cannot change; None:
    this link alone does not tell."""
    if isinstance(exc, ConnectionError | TimeoutError):
        return True
    if isinstance(exc, ReleaseGatesError) and getattr(exc, "transient", False):
        return True
    names = {cls.__name__ for cls in type(exc).__mro__}
    if names & _TRANSIENT_CLASS_NAMES:
        return True
    if "OperationalError" in names or "InterfaceError" in names:
        text = str(exc).lower()
        return any(word in text for word in _TRANSIENT_MESSAGE_WORDS)
    response = getattr(exc, "response", None)
    if isinstance(response, dict) and isinstance(response.get("Error"), dict):
        return response["Error"].get("Code") in _TRANSIENT_AWS_CODES
    return None
