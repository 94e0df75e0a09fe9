# The two commands a newcomer needs: `make demo` and `make test`. Each sets up .venv first.
.PHONY: install demo test lint bench leaderboard clean

install:
	bash scripts/install.sh

# SmolLM2-135M + SASRec + ML-100K on all four tasks (fast profile, about 5-15 minutes on a 2-core CPU).
demo: install
	.venv/bin/recbench run --rec sasrec --llm smollm2-135m

test: install
	bash scripts/install-browser.sh
	.venv/bin/ruff check recbench tests bench
	.venv/bin/recbench --quiet leaderboard validate --verify 2
	.venv/bin/pytest -q

lint: install
	.venv/bin/ruff check recbench tests bench
	.venv/bin/ruff format --check recbench tests bench

bench: install
	for script in bench/*.py; do echo "== $$script"; .venv/bin/python $$script || exit 1; done

leaderboard: install
	.venv/bin/recbench leaderboard validate
	.venv/bin/recbench leaderboard build

clean:
	rm -rf .venv runs leaderboard/site .pytest_cache
