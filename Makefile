# Makefile for the workon extension (PGXS) and the project's entry points.
#
#   make && make install     build and install the extension
#   make installcheck        pg_regress against a running server
#   make run | test | bench  see scripts/

EXTENSION = workon
EXTVERSION = 0.4.1

MODULE_big = $(EXTENSION)
OBJS = $(patsubst %.c,%.o,$(sort $(wildcard extension/*.c)))
PGFILEDESC = "workon - workspace marketplace backend"
SHLIB_LINK += -lcrypto

# The current version's script is built from sql/workon.sql; the frozen
# scripts of released versions and the update scripts are installed as they
# are (never a second copy of the current one).
DATA_built = $(EXTENSION)--$(EXTVERSION).sql
DATA = $(filter-out sql/$(EXTENSION)--$(EXTVERSION).sql,$(wildcard sql/$(EXTENSION)--*.sql))

REGRESS = $(basename $(notdir $(wildcard test/regress/sql/*.sql)))
REGRESS_OPTS = --inputdir=test/regress

PG_CONFIG ?= $(or $(wildcard /usr/lib/postgresql/15/bin/pg_config),pg_config)
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# The install script is the single current script, copied under its
# versioned name.
$(EXTENSION)--$(EXTVERSION).sql: sql/$(EXTENSION).sql
	cp $< $@

$(OBJS): extension/workon.h
# the private headers of the files of one concern
$(patsubst %.c,%.o,$(wildcard extension/jwt*.c)): extension/jwt_internal.h
$(patsubst %.c,%.o,$(wildcard extension/dispatch*.c)): extension/dispatch_internal.h

# EXTVERSION, workon.control's default_version and META.json's versions
# move in lockstep.
all: check-version

check-version:
	@v=`sed -n "s/^default_version[[:space:]]*=[[:space:]]*'\([^']*\)'.*/\1/p" $(EXTENSION).control`; \
	if [ "$$v" != "$(EXTVERSION)" ]; then \
		echo "$(EXTENSION).control: default_version '$$v' does not match EXTVERSION $(EXTVERSION)" >&2; exit 1; \
	fi; \
	for v in `sed -n 's/^[[:space:]]*"version"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p' META.json`; do \
		if [ "$$v" != "$(EXTVERSION)" ]; then \
			echo "META.json: version $$v does not match EXTVERSION $(EXTVERSION)" >&2; exit 1; \
		fi; \
	done

# Project entry points; the work is done by scripts/ and shim/.
.PHONY: check-version run test bench shim deps regress http-test docker clean-run

run:
	scripts/run.sh

test:
	scripts/test.sh

bench:
	scripts/bench.sh

shim:
	$(MAKE) -C shim

deps:
	scripts/deps.sh

regress:
	scripts/test.sh --regress-only

http-test:
	scripts/test.sh --http-only

docker:
	scripts/docker.sh

clean-run:
	scripts/cluster.sh clean
