# postbox — durable actors on CAF 0.17 + PostgreSQL. `make` lists the targets.
SHELL := /bin/bash
BUILD ?= build
JOBS ?= 2
CMAKE_FLAGS ?=
ifeq ($(CI),true)
CMAKE_FLAGS += -DPOSTBOX_WERROR=ON
endif

# Exactly the Debian packages the project needs (build, tests, demo, benchmark; python3 and
# python3-psycopg for the Python example in apps/examples/python and its test; prometheus
# for promtool, which the metrics suite runs on /metrics; chromium, headless, for the
# dashboard suite; pg_auto_failover for the failover test; libcli11-dev (header-only) for
# the command lines of postbox and postbox-node; dpkg-dev for dpkg-shlibdeps,
# which `make package` runs to compute the .deb's Depends).
# libhowardhinnant-date-dev: IANA time zones with real DST rules for cron schedules (the
# C++20 <chrono> zones are not in GCC 12).
PACKAGES := build-essential dpkg-dev cmake pkg-config clang-format \
  libcaf-dev libpqxx-dev libyaml-cpp-dev libboost-json1.81-dev libboost1.81-dev libssl-dev libcli11-dev \
  libhowardhinnant-date-dev \
  postgresql-15 postgresql-client-15 postgresql-15-auto-failover pgbouncer iproute2 procps \
  util-linux curl docker-compose python3 python3-psycopg prometheus chromium

.PHONY: help deps build test package demo bench bench-pipeline bench-queues bench-actors format clean

help:
	@echo "postbox make targets:"
	@echo "  make demo    run the main job on a throwaway PostgreSQL it starts itself"
	@echo "  make test    install deps, build, run every test (starts its own PostgreSQL)"
	@echo "  make bench   mailbox msg/s vs. pgbench running the same SQL: same seconds, backlog, clients"
	@echo "  make bench-pipeline  the pipeline end to end (20k, 200x100, 200k files; upload; latency)"
	@echo "               next to the physical limit (pgbench: one batch's minimal SQL, same server);"
	@echo "               then bench-queues"
	@echo "  make bench-queues  500 queues x 3 nodes: idle connections and transactions/s, a burst"
	@echo "  make bench-actors  keyed actors: keyed vs plain msg/s on one queue, a hot key's turns/s,"
	@echo "               each beside pgbench running the same SQL; cold keys beside a hot backlog"
	@echo "  make package build $(BUILD)/postbox_<version>_<arch>.deb (binaries, libraries, headers,"
	@echo "               CMake and pkg-config files, /etc/postbox examples, postbox-node@.service)"
	@echo "  make deps    apt-get install the Debian packages the project needs (idempotent)"
	@echo "  make build   configure and build into ./$(BUILD)"
	@echo "  make format  clang-format every C++ file"
	@echo "  make clean   remove ./$(BUILD)"

deps:
	@missing=$$(for p in $(PACKAGES); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "make deps: installing" $$missing; \
	  SUDO=; [ "$$(id -u)" -eq 0 ] || SUDO=sudo; \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

build: deps
	@cmake -S . -B $(BUILD) $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)

test: build
	@cd $(BUILD) && ctest -j$(JOBS) --output-on-failure --timeout 1200

package: deps
	@cmake -S . -B $(BUILD) $(CMAKE_FLAGS) -DPOSTBOX_INSTALL=ON >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)
	@cd $(BUILD) && cpack -G DEB >cpack.log 2>&1 || { cat cpack.log; exit 1; }
	@ls $(BUILD)/postbox_*.deb

demo: deps
	@cmake -S . -B $(BUILD) $(CMAKE_FLAGS) >/dev/null
	@echo "make demo: building (output in $(BUILD)/build.log)"
	@cmake --build $(BUILD) -j$(JOBS) >$(BUILD)/build.log 2>&1 || { tail -40 $(BUILD)/build.log; exit 1; }
	@scripts/demo.sh $(BUILD)

bench: build
	@scripts/bench.sh $(BUILD)

bench-pipeline: build
	@scripts/bench_pipeline.sh $(BUILD)
	@scripts/bench_queues.sh $(BUILD)

bench-queues: build
	@scripts/bench_queues.sh $(BUILD)

bench-actors: build
	@scripts/bench_actors.sh $(BUILD)

format:
	@clang-format -i $$(git ls-files '*.cpp' '*.hpp')

clean:
	rm -rf $(BUILD)
