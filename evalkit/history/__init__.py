"""Release history: every finished run in a run store, trends and drift over a suite's past
runs, the roll-back decision against the previously released candidate, and MLflow tracking.

The run folders stay the source of truth: the store (`store.py`) can always be rebuilt from
them (`evalkit history import`).
"""
