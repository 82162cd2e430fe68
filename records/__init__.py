"""The QA record: every run's results in a database (SQLite embedded, PostgreSQL for a centre).

This is its own room: the controller writes a finished run here, the CLI reads trends, baselines and
schedules from here, and nothing in it imports the controller. Run folders (journal, results.json) stay
the source of truth; the store can always be rebuilt from them (``hilcal db import``).
"""
