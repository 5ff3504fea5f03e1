"""How an operator writes evidence: the store behind its connection, who it is, one append.

Every operator base that records something (check operators, release steps, deployment actions,
monitoring steps) mixes this in, so the actor string and the store lookup exist once and a record
written by any task reads the same in every chain.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any

from release_gates.evidence.signing import DEFAULT_SIGNING_CONN_ID

if TYPE_CHECKING:
    from airflow.sdk import Context

    from release_gates.evidence import EvidenceRecord, EvidenceStore


class EvidenceWriterMixin:
    """Evidence plumbing for a :class:`~airflow.sdk.BaseOperator` subclass (list the mixin first).

    The operator sets ``evidence_conn_id`` in its constructor (default
    :data:`~release_gates.evidence.DEFAULT_EVIDENCE_CONN_ID`) and names the chain it writes to in
    :meth:`evidence_chain_id`, or passes ``chain_id`` to :meth:`append_evidence`.
    """

    evidence_conn_id: str
    #: The Airflow connection with the key that signs checkpoints (release_gates.evidence.signing);
    #: when it does not exist, nothing is signed (the policy's ``evidence.signing.required`` decides
    #: whether a release may then be sealed).
    signing_conn_id: str = DEFAULT_SIGNING_CONN_ID
    # Provided by BaseOperator.
    dag_id: str
    task_id: str

    @cached_property
    def evidence_store(self) -> EvidenceStore:
        """The store behind ``evidence_conn_id``, looked up on first use and then kept.

        First use is in ``execute``: a constructor runs at every DAG parse and does no I/O, and each
        task instance works on its own copy of the operator, so it looks the connection up once.
        """
        from release_gates.hooks.evidence import EvidenceStoreHook

        store = EvidenceStoreHook(self.evidence_conn_id).get_store()
        store.signing_setup = self._set_up_signing
        return store

    def _set_up_signing(self, store: EvidenceStore) -> None:
        """Before the first append: the key that signs seals and every Nth record of a long chain.

        The policy's ``evidence.signing`` names the connection and N when the operator has a policy
        (one that cannot be read leaves the defaults: the task reports that problem where it reads
        the policy). A connection that exists but holds no usable key fails the append — never a
        silent unsigned seal; no connection at all: nothing is signed, unless the policy's
        ``evidence.signing.required`` makes that an error too.
        """
        from release_gates.evidence.signing import load_signing_key

        conn_id, required = self.signing_conn_id, False
        if policy_path := getattr(self, "policy_path", None):
            from release_gates.policy import PolicyError, load_policy

            try:
                signing = load_policy(policy_path).evidence.signing
            except PolicyError:
                pass
            else:
                conn_id, required, store.checkpoint_every = (
                    signing.conn_id,
                    signing.required,
                    signing.checkpoint_every,
                )
        # ``required``: a release whose seal could not be signed does not even start writing.
        store.signer = load_signing_key(conn_id, required=required)

    @property
    def evidence_task_name(self) -> str:
        """``<dag_id>.<task_id>``: the actor of records that must read the same on every try."""
        return f"{self.dag_id}.{self.task_id}"

    def evidence_actor(self, context: Context) -> str:
        """``<dag_id>.<task_id>#<try>`` (no ``#<try>`` outside a task instance, e.g. in unit tests)."""
        ti = context.get("ti")
        return self.evidence_task_name + (f"#{ti.try_number}" if ti is not None else "")

    def evidence_chain_id(self, context: Context) -> str:
        """The chain :meth:`append_evidence` writes to when no ``chain_id`` is given."""
        raise NotImplementedError(f"{type(self).__name__} names no evidence chain; pass chain_id")

    def append_evidence(
        self,
        kind: str,
        payload: Mapping[str, Any],
        context: Context,
        *,
        chain_id: str | None = None,
        actor: str | None = None,
    ) -> EvidenceRecord:
        """Append one record as this task (or as ``actor``, e.g. the human who answered)."""
        return self.evidence_store.append(
            chain_id if chain_id is not None else self.evidence_chain_id(context),
            kind,
            payload,
            actor=actor or self.evidence_actor(context),
        )
