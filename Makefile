# wefgate — build, run and test.
#   make run    build and start wefgate on its embedded defaults
#   make test   install what the tests need, then run them all
GO        ?= go
BIN       := bin/wefgate
GOFLAGS   ?=
# The test OpenTelemetry Collector is built once into a cache outside the
# repository (see scripts/build-otelcol.sh).
OTELCOL    = $(shell scripts/build-otelcol.sh)
# staticcheck, pinned, installed once into the same cache.
STATICCHECK = $(shell scripts/install-staticcheck.sh)

.PHONY: all build run test test-deps lint bench fuzz load clean install

all: build

build:
	$(GO) build $(GOFLAGS) -o $(BIN) ./cmd/wefgate

run: build
	./$(BIN) run $(if $(CONFIG),-config $(CONFIG))

test-deps:
	scripts/install-test-deps.sh
	scripts/build-otelcol.sh >/dev/null
	scripts/install-staticcheck.sh >/dev/null

lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(STATICCHECK) ./...

test: test-deps lint build
	WEFGATE_REQUIRE_KDC=1 WEFGATE_REQUIRE_OTELCOL=1 WEFGATE_REQUIRE_MOUNT=1 WEFGATE_REQUIRE_POSTGRES=1 WEFGATE_REQUIRE_HAPROXY=1 WEFGATE_REQUIRE_CHROMIUM=1 WEFGATE_REQUIRE_SYSTEMD=1 WEFGATE_TEST_ARTIFACTS=$(CURDIR)/bin/test-artifacts WEFGATE_OTELCOL=$(OTELCOL) WEFGATE_BIN=$(CURDIR)/$(BIN) \
		$(GO) test -count=1 -timeout 12m ./...

bench:
	WEFGATE_OTELCOL=$(OTELCOL) $(GO) test -run '^$$' -bench . -benchtime 2s ./...

# A short run of every fuzz target (FUZZTIME each).
FUZZTIME ?= 20s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
		for t in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
			echo "fuzz $$pkg $$t"; $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
		done; \
	done

# make install [PREFIX=/usr/local] [DESTDIR=] [SYSCONFDIR=/etc]: the binary,
# the systemd unit, the sysusers.d entry of the wefgate user, and a
# configuration file unless one is there. Then, as root:
#   systemd-sysusers && chgrp wefgate $(SYSCONFDIR)/wefgate/wefgate.yaml &&
#   systemctl daemon-reload && systemctl enable --now wefgate
PREFIX     ?= /usr/local
DESTDIR    ?=
SYSCONFDIR ?= /etc
BINDIR      = $(PREFIX)/bin
UNITDIR    ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
install: build
	install -D -m 0755 $(BIN) $(DESTDIR)$(BINDIR)/wefgate
	install -d $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(SYSCONFDIR)/wefgate
	sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' packaging/wefgate.service.in > $(DESTDIR)$(UNITDIR)/wefgate.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/wefgate.service
	install -m 0644 packaging/wefgate.sysusers $(DESTDIR)$(SYSUSERSDIR)/wefgate.conf
	test -e $(DESTDIR)$(SYSCONFDIR)/wefgate/wefgate.yaml || install -m 0640 packaging/wefgate.yaml $(DESTDIR)$(SYSCONFDIR)/wefgate/wefgate.yaml

clean:
	rm -rf bin
