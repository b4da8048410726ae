# ferry — the two commands of the Quick start are `make demo` and `make test`.
SHELL := /bin/bash
NPM := npm
# Debian packages as package:binary pairs; a package is installed only when its binary is missing.
APT_DEMO := docker-registry:docker-registry
APT_TEST := docker-registry:docker-registry skopeo:skopeo podman:podman gnupg:gpg apache2-utils:htpasswd openssl:openssl strace:strace xz-utils:xz bzip2:bzip2 squashfs-tools:unsquashfs fakeroot:fakeroot

.PHONY: all deps build build-tests demo test sysdeps-demo sysdeps-test bench clean

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

# lib/ is tsc's output of src/; lib/bundle/main.cjs is the same code bundled by esbuild into one CommonJS file, which
# bin/ferry runs through lib/cli/launch.js with a V8 code cache (Node 20 caches no ES module code, see launch.ts);
# commands stay lazily initialized inside it. string-width is replaced by a start-up-cheap twin; import.meta.url (for
# createRequire of native add-ons) becomes the bundle's file URL; "use strict" keeps the strict semantics of ES modules;
# node:http2, which undici loads but ferry never uses, is replaced by a module that throws (see no-http2.ts);
# whitespace and comments are dropped (a third less to read and hold in memory; names stay, so stack traces still
# name functions, at main.cjs:LINE:COLUMN of long lines; debug with tsc's lib/: node lib/cli/... or no bundle).
BUNDLE_FLAGS := --bundle --platform=node --format=cjs --target=node20.19 --outfile=lib/bundle/main.cjs \
	--external:zstd-napi --alias:string-width=./lib/cli/output/text-width.js --alias:node:http2=./lib/registry/no-http2.js \
	--define:import.meta.url=__ferryImportMetaUrl \
	--banner:js="'use strict'; var __ferryImportMetaUrl = require('node:url').pathToFileURL(__filename).href;" \
	--minify-whitespace --log-level=warning

build: deps
	node_modules/.bin/tsc -p tsconfig.json
	rm -rf lib/bundle
	node_modules/.bin/esbuild lib/cli/main.js $(BUNDLE_FLAGS)

build-tests: deps
	node_modules/.bin/tsc -p tsconfig.test.json

demo: deps sysdeps-demo build build-tests
	node .build/test/harness/demo.js

test: deps sysdeps-test build build-tests
	node_modules/.bin/mocha '.build/test/**/*.test.js'

bench: deps sysdeps-test build build-tests
	$(call apt_install,time:/usr/bin/time)
	bench/inspect
	bench/copy
	if [ "$$(id -u)" = 0 ]; then bench/store; else echo "bench/store needs root: skipped"; fi

clean:
	rm -rf lib .build
