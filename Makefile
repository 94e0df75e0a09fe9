# The two commands a newcomer needs: `make demo` and `make test`. Each sets up .venv first.
.PHONY: install demo test lint bench clean

install:
	bash scripts/install.sh

demo: install
	.venv/bin/recbench train-rec --rec sasrec --dataset ml-100k

test: install
	.venv/bin/ruff check recbench tests
	.venv/bin/pytest -q

lint: install
	.venv/bin/ruff check recbench tests
	.venv/bin/ruff format --check recbench tests

clean:
	rm -rf .venv runs leaderboard/site .pytest_cache
