"""Thin Airflow wrappers: resolve inputs → engine → evidence → XCom summary."""
