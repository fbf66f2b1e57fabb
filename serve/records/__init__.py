"""Records: the SQLAlchemy store (users, cases, quiz, audit), its schema and value
checks, roles and passwords (auth.py) and the `python -m serve users` command."""
