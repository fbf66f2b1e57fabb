# The two commands a newcomer needs (see README.md):
#   make app    set up, train the default model if none is published, start the app
#   make test   set up (incl. Debian's Chromium and PostgreSQL), train the default model if
#               none is published (tests run against the same model the app serves), run every tier
.PHONY: app test bench

app:
	bash scripts/setup.sh
	bash scripts/default_model.sh
	.venv/bin/python -m serve

test:
	bash scripts/setup.sh --browser
	bash scripts/postgres_throwaway.sh install
	bash scripts/default_model.sh
	.venv/bin/python -m pytest -q

bench:
	.venv/bin/python bench/run_all.py
