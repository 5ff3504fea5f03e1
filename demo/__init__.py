"""The `make demo` release: real data, two candidates, an AWS API emulator and a local Airflow."""
