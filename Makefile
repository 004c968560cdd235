# The toolkit's entry points. `make demo` shows the main job on the fixtures; `make test` is
# everything CI runs.
SHELL := /bin/sh
PREFIX ?= /usr/local
DESTDIR ?=
CARGO ?= cargo
BINARIES := generate-deployments soa-validate local-run drain setup-service check-replication rerun service-ctl dsdt dsdt-run dsdt-dockerize wr-cloud hacheck smartstack-sync

.PHONY: all build demo test man lint bench install clean

all: build

build:
	$(CARGO) build --workspace --locked --release

demo: build
	sh bin/ensure-docker.sh
	sh bin/ensure-haproxy.sh
	sh bin/demo.sh target/release

# Tests run the binaries against a real Docker engine (started here when none answers), and dsdt
# against Python Disdat (installed here into a kept virtualenv); what they leave on the engine
# is removed whether they pass or not.
test:
	sh bin/ensure-docker.sh
	sh bin/ensure-disdat.sh >/dev/null
	sh bin/ensure-registry.sh
	sh bin/ensure-haproxy.sh
	$(CARGO) build --workspace --locked
	status=0; $(CARGO) test --workspace --locked --no-fail-fast || status=$$?; sh bin/test-cleanup.sh; \
	$(CARGO) run --quiet --locked -p gen-docs -- --check man || status=$$?; exit $$status

man:
	$(CARGO) run --quiet --locked -p gen-docs -- man

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

bench: build
	sh bin/bench.sh target/release

install: build
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1
	for b in $(BINARIES); do install -m 0755 target/release/$$b $(DESTDIR)$(PREFIX)/bin/$$b; done
	for b in $(BINARIES); do install -m 0644 man/man1/$$b.1 $(DESTDIR)$(PREFIX)/share/man/man1/$$b.1; done
	install -d $(DESTDIR)$(PREFIX)/share/bash-completion/completions $(DESTDIR)$(PREFIX)/share/zsh/site-functions $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d
	for b in $(BINARIES); do \
	  install -m 0644 man/completions/bash/$$b $(DESTDIR)$(PREFIX)/share/bash-completion/completions/$$b; \
	  install -m 0644 man/completions/zsh/_$$b $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_$$b; \
	  install -m 0644 man/completions/fish/$$b.fish $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/$$b.fish; \
	done

clean:
	$(CARGO) clean
	rm -rf target/demo target/bench
