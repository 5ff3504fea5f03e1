"""The Airflow UI of release gates: a FastAPI app (served by the API server), a "Release gates" tab
on each DAG run, a "Releases" page in the navigation and a "Release report" link on gate tasks."""
