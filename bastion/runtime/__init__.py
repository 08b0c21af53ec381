"""How a node runs: one process (the demo, SQLite), or a supervisor with several SSH
proxy workers sharing the port and a console process (production, PostgreSQL).

The processes coordinate only through the database, as several nodes already do:
revocations and terminations, the audit chain, live-session rows."""
