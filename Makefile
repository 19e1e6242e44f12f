# Two commands on a fresh machine: `make demo` and `make test`. Everything else follows from them.
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT    := DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get
VIDEOS := .cache/videos

.PHONY: setup system-packages videos lint test soak demo bench clean

$(STAMP): pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[test]'
	@touch $@

# Debian's redis-server and chromium: the tests run the real ones.
system-packages:
	@if ! command -v redis-server >/dev/null || ! command -v chromium >/dev/null; then \
	  echo "installing Debian packages: redis-server chromium"; \
	  $(APT) update -qq && $(APT) install -y -qq --no-install-recommends redis-server chromium >/dev/null; \
	fi

setup: $(STAMP) system-packages

videos:
	@bash deploy/fetch-videos.sh $(VIDEOS)

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

test: setup lint
	$(PY) -m pytest

# Kill-and-restart and rebalance rounds under CPU hogs (~20 min); ROUNDS=n, REBALANCE_ROUNDS=n to change.
soak: setup
	$(PY) tests/soak/soak_streams.py
	$(PY) tests/soak/soak_up.py

demo: setup videos
	$(PY) -m centinela demo

bench: setup
	@for bench in tests/bench/bench_*.py; do echo "== $$bench"; $(PY) $$bench || exit 1; done

clean:
	rm -rf $(VENV) .centinela .cache bench/results/*.json
