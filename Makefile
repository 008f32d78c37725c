# The two README commands. Both run set-up first; set-up is idempotent (seconds when nothing changed).
.PHONY: run test
PORT ?= 8501

run:
	scripts/setup.sh
	.venv/bin/python -m dashboard prepare
	.venv/bin/streamlit run app.py --server.port $(PORT)

test:
	scripts/setup.sh --browser
	.venv/bin/ruff check .
	.venv/bin/python -m pytest
