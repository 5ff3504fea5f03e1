"""Every error this provider raises, under one base: ``except ReleaseGatesError`` catches them all.

Each class also subclasses the built-in it has always been (``ValueError`` for bad input,
``RuntimeError`` for a tool or service that could not do its part), so callers that catch broadly
keep working. Operators decide retry semantics from the result, not from these classes: a check
that raises one of them ends as an ERROR result, recorded before the task fails and is retried.

This module imports nothing of the provider: every layer may raise these.
"""

from __future__ import annotations


class ReleaseGatesError(Exception):
    """Base of every error raised by ``release_gates``."""


# -- input: the policy, datasets and files a check reads (bad input → ERROR result, exit 2 on the CLI) --


class DatasetError(ReleaseGatesError, ValueError):
    """A dataset could not be read; the message names the dataset and the reason."""


class InferenceLogError(DatasetError):
    """The inference log could not be read (missing, unreadable, missing columns, bad timestamp type)."""


class FairnessInputError(ReleaseGatesError, ValueError):
    """The evaluation data cannot be scored as binary outcomes; names the column and the problem."""


class DriftInputError(ReleaseGatesError, ValueError):
    """The check cannot run on these inputs (missing column, unknown method): an ERROR result."""


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


class TrivyRunError(TrivyError):
    """Trivy exited non-zero; the message quotes the last lines of its error output."""


class TrivyDbMissingError(TrivyError):
    """A vulnerability scan was asked for without downloads, and the cache holds no DB."""


class TrivyReportError(ReleaseGatesError, ValueError):
    """The output is not a Trivy JSON report this reader understands (→ ERROR)."""


class InvalidTargetError(ReleaseGatesError, ValueError):
    """A scan target that must not reach the command line (→ ERROR)."""


# -- evidence ---------------------------------------------------------------------------------------


class EvidenceError(ReleaseGatesError, RuntimeError):
    """The evidence store could not do what was asked (and nothing partial was written)."""


class EvidenceSealedError(EvidenceError):
    """The chain was sealed; a sealed release takes no further records."""


class EvidenceNotFoundError(EvidenceError, KeyError):
    """No evidence chain with this release id."""


class BundleError(ReleaseGatesError, ValueError):
    """An exported evidence bundle cannot be read (not JSON, wrong shape)."""


# -- operators --------------------------------------------------------------------------------------


class CheckErrorException(ReleaseGatesError):
    """The check could not run. Raised after the ERROR result was recorded; Airflow retries it."""


class DeploymentActionError(ReleaseGatesError):
    """A promotion or rollback could not complete; recorded in evidence first. Airflow retries it."""
