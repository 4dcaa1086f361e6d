# feed: social home timelines inside PostgreSQL (PGXS build).
#
# `make demo` and `make test` work on a fresh Debian 12 machine as root: they
# install their apt packages first (see `deps`), so the top level of this file
# must not need PGXS.  Everything that does is behind the guard below.

EXTENSION = feed
MODULE_big = feed
OBJS = src/feed.o src/ids.o src/spi_plans.o src/validate.o src/graph.o src/workers.o src/maintenance.o \
	src/posts.o src/timeline.o src/fanout.o src/counters.o src/integrity.o \
	src/auth.o src/ratelimit.o src/audit.o src/tokens.o \
	src/cache.o src/cache_sync.o src/probe.o
DATA = feed--1.0.sql
PG_CFLAGS = -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers

REGRESS = $(patsubst sql/%.sql,%,$(sort $(wildcard sql/*.sql)))
REGRESS_OPTS = --temp-instance=./tmp_check_regress --temp-config=test/feed.conf --encoding=UTF8 --no-locale
ISOLATION = $(patsubst specs/%.spec,%,$(sort $(wildcard specs/*.spec)))
ISOLATION_OPTS = --temp-instance=./tmp_check_iso --temp-config=test/feed.conf --encoding=UTF8 --no-locale
TAP_TESTS = 1

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)
PG_SERVER_H = $(shell $(PG_CONFIG) --includedir-server 2>/dev/null)/postgres.h

# Debian ships pgxs.mk in the client package, so its presence does not mean
# the server headers are there: test for postgres.h too.
ifneq ($(and $(wildcard $(PGXS)),$(wildcard $(PG_SERVER_H))),)
include $(PGXS)

# PGXS tracks no header dependencies: a changed header (an SQL macro in
# counters.h, a shared-memory layout) must rebuild every object.
$(OBJS): $(wildcard src/*.h)

# Single-suite targets, run by `make test` as the unprivileged user in a
# staging copy of the tree.
test-regress:
	$(pg_regress_installcheck) $(REGRESS_OPTS) $(REGRESS)
test-isolation:
	$(pg_isolation_regress_installcheck) $(ISOLATION_OPTS) $(ISOLATION)
test-tap:
	$(prove_installcheck)
.PHONY: test-regress test-isolation test-tap
else
all install installcheck clean test-regress test-isolation test-tap:
	@echo "PostgreSQL 15 server headers are missing: run 'make deps' (or 'make test' / 'make demo', which do it)"
	@exit 2
endif

DEB_PACKAGES = postgresql-15 postgresql-server-dev-15 postgresql-15-cron libipc-run-perl \
	postgresql-contrib make gcc
TEST_SUITES = regress isolation tap

deps:
	@bash test/deps.sh $(DEB_PACKAGES)

# Build and install as root, then run every suite as `postgres` in a staging
# copy (PostgreSQL refuses to run as root and needs a tree it can write).
test: SHELL := /bin/bash
test: deps
	@$(MAKE) --no-print-directory -s all
	@$(MAKE) --no-print-directory install >/dev/null
	@bash test/run_suites.sh "$(words $(REGRESS))" "$(words $(ISOLATION))" "$(words $(wildcard t/*.pl))"

demo: deps
	@$(MAKE) --no-print-directory -s all
	@$(MAKE) --no-print-directory install >/dev/null
	@bash test/demo.sh

bench: deps
	@$(MAKE) --no-print-directory -s all
	@$(MAKE) --no-print-directory install >/dev/null
	@bash bench/run.sh
	@bash bench/cache.sh
	@bash bench/likes.sh
	@bash bench/security.sh

.PHONY: deps test demo bench
