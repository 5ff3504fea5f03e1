#!/usr/bin/env bash
# Creates the evidence store's own database and role next to Airflow's metadata database.
#
# The official postgres image runs this once, when the data volume is initialised
# (/docker-entrypoint-initdb.d). The password comes from RELEASE_GATES_EVIDENCE_PASSWORD (.env) and
# is passed as a psql variable, so it is quoted by psql and never spliced into SQL text. The release
# gates' own tables are created by `release-gates evidence migrate` in airflow-init.
set -euo pipefail

: "${RELEASE_GATES_EVIDENCE_PASSWORD:?set RELEASE_GATES_EVIDENCE_PASSWORD in .env}"

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v evidence_password="$RELEASE_GATES_EVIDENCE_PASSWORD" <<'SQL'
CREATE ROLE release_gates LOGIN PASSWORD :'evidence_password';
CREATE DATABASE release_gates_evidence OWNER release_gates;
REVOKE ALL ON DATABASE release_gates_evidence FROM PUBLIC;
SQL
