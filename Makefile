# The two set-up commands of the README. Everything they need is installed from here:
# a Python virtual environment in .venv, and (when run as root on Debian/Ubuntu) the system
# packages the real-part tests and the demo use.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

NODE_STAMP := node_modules/.package-lock.json

.PHONY: demo test bench lint system-deps clean translations

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit("Python 3.11 or newer is needed (found %s)" % sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,demo]'
	@rm -f $(VENV)/.installed-*
	@touch $@

system-deps:
	@sh scripts/system-deps.sh

# Front-end packages (the asciinema player) from the npm registry, pinned by the lock file.
$(NODE_STAMP): package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund --loglevel=error

## make demo: install, initialise ./var with demo data, start a demo target and the bastion
demo: $(STAMP)
	@sh scripts/system-deps.sh --demo
	@$(MAKE) --no-print-directory $(NODE_STAMP)
	$(BIN)/bastion demo

## make test: install test dependencies and run the whole suite (TEST_WORKERS processes)
TEST_WORKERS ?= 2
test: system-deps $(STAMP) $(NODE_STAMP)
	$(BIN)/pytest -q -p no:cacheprovider -n $(TEST_WORKERS)

## make bench: benchmarks against direct OpenSSH (about 15 minutes; BENCH_FLAGS=--quick)
bench: system-deps $(STAMP)
	$(BIN)/pip install --quiet -e '.[test,bench]'
	$(BIN)/python -m bench $(BENCH_FLAGS)

## make translations: after changing a message, refresh both catalogues (console: web,
## bastion: SSH lines, e-mails, reports); translate the new French entries, run it again
translations: $(STAMP)
	$(BIN)/pybabel extract -F web/babel.cfg -k lazy_gettext -o $(VENV)/messages.pot web
	$(BIN)/pybabel update -i $(VENV)/messages.pot -d web/translations --no-fuzzy-matching
	$(BIN)/pybabel compile -d web/translations --statistics
	$(BIN)/pybabel extract -F bastion/babel.cfg -k N_ -k NC_:1c,2 -k tr -k plural:1,2 \
	    -o $(VENV)/bastion.pot bastion
	$(BIN)/pybabel update -D bastion -i $(VENV)/bastion.pot -d bastion/translations \
	    --no-fuzzy-matching
	$(BIN)/pybabel compile -D bastion -d bastion/translations --statistics

lint: $(STAMP)
	$(BIN)/ruff check bastion web tests bench

clean:
	rm -rf $(VENV) var test-artifacts node_modules
