"""Check engines: inputs + spec → CheckResult. No Airflow imports here."""
