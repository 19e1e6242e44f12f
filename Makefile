# Two commands on a fresh machine: `make demo` and `make test`. Everything else follows from them.
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT    := DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get
VIDEOS := .cache/videos
KAFKA  := deploy/kafka
KAFKA_STAMP := $(KAFKA)/lib/.installed-$(shell cat $(KAFKA)/pom.xml | sha1sum | cut -c1-12)

.PHONY: setup system-packages videos lint test soak demo bench clean

$(STAMP): pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[test]'
	@touch $@

# Debian's packages: the tests run the real servers and browser. Java and Maven for Apache Kafka,
# PostgreSQL for the history, poppler-utils to read the commission's PDF back.
SYSTEM_COMMANDS := redis-server:redis-server chromium:chromium java:default-jre-headless mvn:maven \
                   /usr/lib/postgresql/15/bin/postgres:postgresql pdftotext:poppler-utils
system-packages:
	@missing=$$(for pair in $(SYSTEM_COMMANDS); do command -v $${pair%%:*} >/dev/null || echo $${pair#*:}; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:" $$missing; \
	  $(APT) update -qq && $(APT) install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

# Apache Kafka's runtime jars from Maven Central (the version is pinned in deploy/kafka/pom.xml).
$(KAFKA_STAMP): $(KAFKA)/pom.xml | system-packages
	@echo "installing Apache Kafka from Maven Central into $(KAFKA)/lib"
	@rm -rf $(KAFKA)/lib
	@mvn -q -B -f $(KAFKA)/pom.xml dependency:copy-dependencies -DincludeScope=runtime \
	  -DoutputDirectory=$(CURDIR)/$(KAFKA)/lib
	@touch $@

setup: $(STAMP) system-packages $(KAFKA_STAMP)

videos:
	@bash deploy/fetch-videos.sh $(VIDEOS)

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

test: setup lint
	$(PY) -m pytest

# Kill-and-restart and rebalance rounds under CPU hogs, `up` under lane kills, the broker SIGKILLed under
# `up`, and the cluster's leading node SIGKILLed (~60 min); ROUNDS=n, REBALANCE_ROUNDS=n, UP_SECONDS=n,
# BROKER_ROUNDS=n, FAILOVER_KILLS=n to change.
soak: setup
	$(PY) tests/soak/soak_streams.py
	$(PY) tests/soak/soak_up.py
	$(PY) tests/soak/soak_broker.py
	$(PY) tests/soak/soak_failover.py

demo: setup videos
	$(PY) -m centinela demo

bench: setup
	@for bench in tests/bench/bench_*.py; do echo "== $$bench"; $(PY) $$bench || exit 1; done

clean:
	rm -rf $(VENV) .centinela .cache $(KAFKA)/lib bench/results/*.json
