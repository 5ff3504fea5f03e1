# The Airflow image of docker-compose.yaml: Airflow 3.3 with this provider and all its extras.
#
#   docker compose build        (or: docker build -t release-gates-airflow:3.3.2 .)
#
# The `scan` extra (part of `all`) pip-installs a trivy binary, so Celery workers can run image scans
# without a system package. Airflow stays pinned: installing the provider must never move it.
FROM apache/airflow:3.3.2

ARG AIRFLOW_VERSION=3.3.2

COPY --chown=airflow:0 pyproject.toml README.md /opt/release-gates/
COPY --chown=airflow:0 provider /opt/release-gates/provider

RUN pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" "/opt/release-gates[all]" \
    && trivy --version \
    && release-gates --help > /dev/null \
    && python -c "from release_gates.get_provider_info import get_provider_info; get_provider_info()"
