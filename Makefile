# ferry — the two commands of the Quick start are `make demo` and `make test`.
SHELL := /bin/bash
NPM := npm
# Debian packages as package:binary pairs; a package is installed only when its binary is missing.
APT_DEMO := docker-registry:docker-registry
APT_TEST := docker-registry:docker-registry skopeo:skopeo podman:podman gnupg:gpg apache2-utils:htpasswd openssl:openssl strace:strace \
	golang-docker-credential-helpers:docker-credential-pass pass:pass fuse-overlayfs:fuse-overlayfs uidmap:newuidmap \
	xz-utils:xz bzip2:bzip2 squashfs-tools:unsquashfs fakeroot:fakeroot

.PHONY: all deps native build build-tests demo test test-node24 node24 sysdeps-demo sysdeps-test bench clean man install

all: build

node_modules/.package-lock.json: package-lock.json
	$(NPM) ci --no-audit --no-fund
	@touch $@

deps: node_modules/.package-lock.json

# Installs the missing Debian packages among the pairs $(1) with apt-get (CI runs as root).
define apt_install
	@missing=""; for pair in $(1); do command -v "$${pair#*:}" >/dev/null 2>&1 || missing="$$missing $${pair%%:*}"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
endef

sysdeps-demo:
	$(call apt_install,$(APT_DEMO))

sysdeps-test:
	$(call apt_install,$(APT_TEST))

# lib/ is tsc's output of src/; lib/bundle/ is the same code and its dependencies bundled by esbuild into ES modules,
# which bin/ferry imports: Node reads and compiles a few files instead of several hundred (docs/performance.md,
# "Start-up"). The bundle is split where the code loads modules lazily (`await import(...)`): lib/bundle/ferry.mjs
# holds what every command needs, lib/bundle/chunks/ the commands and what only they use, so a command loads (and
# Node initializes the built-in modules of) only its own part. The banner gives the CommonJS dependencies (undici)
# the `require` they load Node's built-in modules with, made on first use (every chunk carries the banner, few
# require anything, and making one per module at load is a measurable part of loading a chunk); yargs' search of
# the working directory and its parents for a package.json (to guess a version ferry sets itself) is replaced by one
# that finds nothing (no-find-up.ts); string-width is replaced by a start-up-cheap twin;
# node:http2, which undici loads but ferry never uses, by a module that throws (see no-http2.ts); undici's reads of
# `globalThis.Headers` become `undefined` (its cookie helpers, which ferry never calls, read it to accept Node's own
# Headers objects too, and that first read makes Node load and compile its own copy of undici, ~40-60 ms of CPU on
# every registry command; undici's assignment in its `install()`, never called, stays as written); whitespace and
# comments are dropped (names stay, so stack traces still name functions; to debug with tsc's lib/, import `run`
# from lib/cli/main.js).
BUNDLE_FLAGS := --bundle --platform=node --format=esm --target=node20.19 \
	--splitting --outdir=lib/bundle --entry-names=ferry --chunk-names=chunks/[name]-[hash] --out-extension:.js=.mjs \
	--external:zstd-napi --alias:string-width=./lib/cli/output/text-width.js --alias:node:http2=./lib/registry/no-http2.js \
	--alias:escalade/sync=./lib/cli/no-find-up.js --define:globalThis.Headers=undefined --log-override:assign-to-define=silent \
	--banner:js="import { createRequire as __ferryCreateRequire } from 'node:module'; let __ferryRequire; const require = (id) => (__ferryRequire ??= __ferryCreateRequire(import.meta.url))(id);" \
	--minify-whitespace --log-level=warning

# The store's addon (src/store/native) is compiled by npm ci (node-gyp); `native` compiles it again when its source
# changed since, if it was compiled at all (it is an optional dependency: an install without a C compiler has none).
NATIVE_NODE := src/store/native/build/Release/ferry_store_native.node
native: deps
	@if [ -e $(NATIVE_NODE) ]; then $(MAKE) --no-print-directory $(NATIVE_NODE); fi

$(NATIVE_NODE): src/store/native/ferry_store_native.c src/store/native/binding.gyp
	$(NPM) rebuild ferry-store-native

build: deps native
	node_modules/.bin/tsc -p tsconfig.json
	rm -rf lib/bundle
	node_modules/.bin/esbuild lib/cli/main.js $(BUNDLE_FLAGS)

build-tests: deps
	node_modules/.bin/tsc -p tsconfig.test.json

demo: deps sysdeps-demo build build-tests
	node .build/test/harness/demo.js

# The suite runs twice: on the machine's Node, then on Node 24 (test-node24). The native addons (zstd-napi and the
# store's) are N-API modules, so the build npm ci made serves both Nodes.
test: deps sysdeps-test build build-tests node24
	node_modules/.bin/mocha '.build/test/**/*.test.js'
	$(MOCHA_NODE24)

# Node 24 from the npm registry's `node` package, installed into .tools/node24 (git-ignored) once, here and never at
# run time. test-node24 puts it first in PATH, so that what the tests start (bin/ferry, npm, an installed ferry)
# runs on it too.
NODE24_VERSION := 24.21.0
NODE24_DIR := .tools/node24
NODE24 := $(NODE24_DIR)/node_modules/.bin/node

$(NODE24):
	$(NPM) install --prefix $(NODE24_DIR) --no-save --no-package-lock --no-audit --no-fund node@$(NODE24_VERSION)
	@$@ --version >/dev/null

node24: $(NODE24)

MOCHA_NODE24 = PATH="$(CURDIR)/$(NODE24_DIR)/node_modules/.bin:$$PATH" $(NODE24) node_modules/.bin/mocha '.build/test/**/*.test.js'

test-node24: deps sysdeps-test build build-tests node24
	$(MOCHA_NODE24)

# Man pages: docs/NAME.1.md (pandoc-style title line, then markdown) → lib/man/man1/NAME.1 (roff) with marked-man,
# a dev dependency used at build time only. Links to other pages become their plain text (ferry-copy(1)).
# SOURCE_DATE_EPOCH (default: the last commit's time) dates the pages, so a rebuild gives the same bytes.
VERSION := $(shell node -p "require('./package.json').version")
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || date +%s)
MAN_PAGES := $(patsubst docs/%.md,lib/man/man1/%,$(wildcard docs/*.1.md))

man: $(MAN_PAGES)

lib/man/man1/%: docs/%.md | deps
	@mkdir -p $(@D)
	tail -n +2 $< | sed -E 's/\[([^]]*)\]\([^)]*\.md(#[^)]*)?\)/\1/g' \
	  | SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) node_modules/.bin/marked-man --no-breaks --name $(basename $*) --section 1 \
	    --version "ferry $(VERSION)" --manual "ferry manual" > $@.tmp
	mv $@.tmp $@

# make install PREFIX=DIR: the package npm pack makes, installed with npm install -g --prefix DIR — DIR/bin/ferry,
# the library in DIR/lib/node_modules/ferry with its production dependencies, and the man pages in
# DIR/share/man/man1 (npm links the files package.json's "man" lists), so `MANPATH=DIR/share/man man ferry-copy` works.
PREFIX ?= /usr/local
install: build man
	@pack=$$(mktemp -d) && trap 'rm -rf "$$pack"' EXIT && \
	  $(NPM) pack --ignore-scripts --pack-destination "$$pack" >/dev/null && \
	  $(NPM) install -g --prefix "$(PREFIX)" --no-audit --no-fund "$$pack"/ferry-$(VERSION).tgz

bench: deps sysdeps-test build build-tests
	$(call apt_install,time:/usr/bin/time)
	bench/inspect
	bench/copy
	if [ "$$(id -u)" = 0 ]; then bench/store; else echo "bench/store needs root: skipped"; fi

clean:
	rm -rf lib .build
