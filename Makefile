# Each target does its own set-up first; set-up already done is skipped (stamp files).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
VENDOR := static/vendor
HTMX := node_modules/htmx.org/dist
PICO := node_modules/@picocss/pico/css
CHROMIUM := /usr/bin/chromium
DEBIAN_REDIS := .redis/debian/usr/bin/redis-server
NGINX := /usr/sbin/nginx
# The text-browser test drives w3m under tmux.
TEXT_BROWSER := /usr/bin/w3m /usr/bin/tmux

.PHONY: run test test-fast screenshots dist bench bench-delivery soak autobahn mutate setup clean

run: setup
	$(PY) server.py $(ARGS)

# pytest-xdist workers, one a core of the 2-core machines we test on (0: all in this process).
# Each module runs whole on one worker (its fixtures of module scope made once), in collection
# order: browser tests last (tests/conftest.py).
TEST_WORKERS ?= 2
WORKERS := -n $(TEST_WORKERS) --dist loadscope --no-loadscope-reorder

test: setup $(CHROMIUM) $(NGINX) $(TEXT_BROWSER) /usr/bin/pipx $(DEBIAN_REDIS)
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

# Mutation testing of one core module with its unit tests (tests/mutation.py lists them), niced
# and on at most 2 workers, since the cores are shared: make mutate MODULE=parlor/game/games.py
mutate: setup
	nice -n 19 $(PY) -m tests.mutation $(MODULE) $(ARGS)

setup: $(VENV)/.installed $(VENDOR)/htmx.min.js $(VENDOR)/ext/hx-ws.min.js $(VENDOR)/ext/hx-sse.min.js \
       $(VENDOR)/pico.classless.min.css

$(VENV)/.installed: setup.py pyproject.toml
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

# Debian 12's Redis 7.0 for the tests that run Parlor on each Redis it supports
# (tests/redis_servers.py), unpacked into the checkout, never installed: a redis-server on PATH
# is what Parlor's embedded Redis would pick up. Only its two libraries are installed.
$(DEBIAN_REDIS):
	apt-get update && apt-get install -y liblzf1 libjemalloc2
	rm -rf .redis/debian && mkdir -p .redis/debian
	cd .redis && apt-get download redis-server redis-tools
	for package in .redis/redis-*.deb; do dpkg -x "$$package" .redis/debian; done
	rm .redis/redis-*.deb
	$@ --version

# Debian's pipx 1.1, which tests/web/test_upgrade.py runs docs/deploy.md's install and upgrade with.
/usr/bin/pipx:
	apt-get update && apt-get install -y pipx

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

clean:
	rm -rf $(VENV) node_modules $(VENDOR) .autobahn .redis dist build
