"""The release id of a DAG run: ``<dag_id>__<run_id>``, with one escape that makes it unambiguous.

DAG ids match ``[\\w.-]+`` and run ids are chosen by whoever triggers the run (Airflow's default
``allowed_run_id_pattern`` is ``[A-Za-z0-9_.~:+-]+``, and it can be widened), so both may contain the
``__`` separator: DAG ``a`` run ``x__y`` and DAG ``a__x`` run ``y`` used to share the id
``a__x__y``. Run ids cannot be escaped without changing every id (the scheduler's own run ids
contain ``__``), so the DAG id is: when it contains ``__`` or ends with ``_`` — the only DAG ids
that could make the split ambiguous — each ``_`` in it is written ``%5F`` (``%`` is never part of a
DAG id). The escaped DAG id then holds no ``__`` and does not end with ``_``, so the first ``__`` of a
release id always ends the DAG id, whatever the run id holds. Every other DAG id is written as is,
so ``release-gates evidence verify <dag_id>__<run_id>`` keeps naming the same chains as before.

``DEFAULT_RELEASE_ID`` (``operators/base.py``) renders exactly :func:`release_id_for` in Jinja.
"""

from __future__ import annotations

SEPARATOR = "__"
_ESCAPED_UNDERSCORE = "%5F"


def escaped_dag_id(dag_id: str) -> str:
    """The DAG id as it appears in a release id (see the module docstring)."""
    if SEPARATOR in dag_id or dag_id.endswith("_"):
        return dag_id.replace("_", _ESCAPED_UNDERSCORE)
    return dag_id


def release_id_for(dag_id: str, run_id: str) -> str:
    """The release id the release DAG gives the run ``run_id`` of ``dag_id``."""
    return f"{escaped_dag_id(dag_id)}{SEPARATOR}{run_id}"


def legacy_release_id_for(dag_id: str, run_id: str) -> str:
    """The id chains were given before the escape: ambiguous, so it only names a chain to look at.

    A chain found under it is this run's only if its ``release_started`` record says so.
    """
    return f"{dag_id}{SEPARATOR}{run_id}"


def split_release_id(release_id: str) -> tuple[str, str] | None:
    """``(dag_id, run_id)`` of a release id in this scheme, or None when it is not one.

    Exact for ids made by :func:`release_id_for`; an id made before the escape existed may split
    differently from how it was made, so nothing is authorized on this split — only on the DAG id
    recorded when the release started.
    """
    escaped, sep, run_id = release_id.partition(SEPARATOR)
    if not sep or not escaped or not run_id:
        return None
    return escaped.replace(_ESCAPED_UNDERSCORE, "_"), run_id
