# Each target does its own set-up first; set-up already done is skipped (stamp files).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
VENDOR := static/vendor
HTMX := node_modules/htmx.org/dist
PICO := node_modules/@picocss/pico/css
CHROMIUM := /usr/bin/chromium
NGINX := /usr/sbin/nginx
# The text-browser test drives w3m under tmux; w3m edits a textarea in vi.
TEXT_BROWSER := /usr/bin/w3m /usr/bin/tmux /usr/bin/vi

.PHONY: run test test-fast screenshots dist bench bench-delivery soak autobahn setup clean

run: setup
	$(PY) server.py $(ARGS)

# pytest-xdist workers, one a core of the 2-core machines we test on (0: all in this process).
# Each module runs whole on one worker (its fixtures of module scope made once), in collection
# order: browser tests last (tests/conftest.py).
TEST_WORKERS ?= 2
WORKERS := -n $(TEST_WORKERS) --dist loadscope --no-loadscope-reorder

test: setup $(CHROMIUM) $(NGINX) $(TEXT_BROWSER)
	$(PY) -m pytest $(WORKERS) $(PYTEST_ARGS)

# The developer's loop: every test but those marked slow (browsers, the wheel, server processes).
test-fast: setup
	$(PY) -m pytest $(WORKERS) -m "not slow" $(PYTEST_ARGS)

# The README's pictures: the screenshot tests write docs/screenshots/ (a plain test run keeps them in a temporary folder).
screenshots: setup $(CHROMIUM)
	PARLOR_SCREENSHOTS=$(CURDIR)/docs/screenshots $(PY) -m pytest tests/e2e/test_screenshots_e2e.py $(PYTEST_ARGS)

# The wheel and the sdist, with templates, static files and htmx/Pico from npm, into $(DIST)/:
# what a deployer installs (pipx install ./$(DIST)/parlor-VERSION-py3-none-any.whl), no npm needed.
DIST ?= dist
dist: setup
	$(PY) -m build --outdir $(DIST) .

bench: setup
	command -v wrk >/dev/null || (apt-get update && apt-get install -y wrk)
	$(PY) -m bench $(ARGS)

bench-delivery: setup
	$(PY) -m bench.delivery $(ARGS)

# Ten minutes of mixed load; fails if memory, descriptors or Redis memory keep growing.
soak: setup
	$(PY) -m bench.soak $(ARGS)

# The Autobahn|Testsuite fuzzing client against /live (it needs a Python 2.7; set up in .autobahn/).
autobahn: setup
	$(PY) -m bench.autobahn $(ARGS)

setup: $(VENV)/.installed $(VENDOR)/htmx.min.js $(VENDOR)/ext/hx-ws.min.js $(VENDOR)/ext/hx-sse.min.js \
       $(VENDOR)/pico.classless.min.css

$(VENV)/.installed: setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(VENDOR)/htmx.min.js: node_modules/.installed
	mkdir -p $(VENDOR)
	cp $(HTMX)/htmx.min.js $@

$(VENDOR)/ext/%.min.js: node_modules/.installed
	mkdir -p $(VENDOR)/ext
	cp $(HTMX)/ext/$*.min.js $@

$(VENDOR)/pico.classless.min.css: node_modules/.installed
	mkdir -p $(VENDOR)
	cp $(PICO)/pico.classless.min.css $@

# Debian's chromium for the browser tests; never a browser that a test tool downloads.
$(CHROMIUM):
	apt-get update && apt-get install -y chromium

# Debian's nginx, which tests/web/test_deploy.py runs in front of Parlor with docs/nginx.conf.
$(NGINX):
	apt-get update && apt-get install -y nginx

/usr/bin/w3m:
	apt-get update && apt-get install -y w3m

/usr/bin/tmux:
	apt-get update && apt-get install -y tmux

/usr/bin/vi:
	apt-get update && apt-get install -y vim-tiny

clean:
	rm -rf $(VENV) node_modules $(VENDOR) .autobahn dist build
