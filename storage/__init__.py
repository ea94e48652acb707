"""storage: the database and everything that reads or writes it.

SQLAlchemy 2 models, engine and sessions, Alembic migrations, campaign files, roster and
answered-list imports, and the progress queries that status and digests are derived from.
"""
