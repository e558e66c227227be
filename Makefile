# twanon: build, test and run the module against Debian 12's nginx.
#
#   make          build build/ngx_http_twanon_module.so
#   make test     install what is missing, build, run the whole suite
#   make test-private the suite from a clone of the current commit in a
#                 private directory (mode 700, as /root is)
#   make bench    the handlers against nginx's own ceiling (t/bench/)
#   make bench-instr  callgrind alone: instructions per request against
#                     each handler's budget
#   make bench-profile  instructions per request per function (callgrind)
#   make deb      the Debian package, build/libnginx-mod-http-twanon_*.deb
#   make test-deb install the package, run it, purge it (t/deb/)
#   make test-1.26    the suite against nginx 1.26 from Debian 13's source
#   make test-static  the suite against nginx 1.22.1 with the module
#                     linked in (--add-module), built in build/static/
#
# NGINX_SRC may name another nginx source tree (configured with the same
# flags as the nginx that loads the module); NGINX_BIN names the binary
# the tests run.
#
# Each test target installs what its suite needs (test-deps, npm-deps,
# fuzz-targets), writes prove's output to build/<target>.log and ends with
# the list of skipped test files and their reasons; under CI=true, a skip
# that t/allowed-skips does not allow fails it (t/check-skips.pl).

SHELL      := /bin/bash
BUILD      := $(CURDIR)/build
NGINX_SRC  ?= /usr/share/nginx/src
NGINX_BIN  ?= /usr/sbin/nginx
MODULE     := $(BUILD)/ngx_http_twanon_module.so
CC_OPT     := -g -O2 -fPIC -fstack-protector-strong -Wformat \
              -Werror=format-security -D_FORTIFY_SOURCE=2 \
              -Wall -Wextra -Werror
LD_OPT     := -Wl,-z,relro -Wl,-z,now -fPIC

# what the build needs (make deps)
DEB_PKGS   := nginx nginx-dev libssl-dev libxml2-dev libpcre2-dev \
              zlib1g-dev gcc make perl

# what the suite needs beyond that (make test-deps): Node.js and npm
# (t/interop, t/browser, the console's SDK; Debian's, unless the machine
# has node and npm of its own), chromium (t/twanon_console.t), wrk
# (t/twanon_load.t), procps (ps: t/twanon_demo.t, t/twanon_load.t),
# openssl and libio-socket-ssl-perl (t/twanon_call_tool.t's https server),
# prometheus (prometheus and promtool: t/twanon_prometheus.t; the test
# runs a Prometheus of its own on a free port, never the package's
# service)
NODE_PKGS  := nodejs npm
TEST_PKGS  := chromium wrk procps openssl libio-socket-ssl-perl prometheus

DEMO_PORT  ?= 8080
DEMO       ?=
FROM       ?= +15550100
CALL_URL   ?= http://127.0.0.1:$(DEMO_PORT)/incoming
DIAL_STATUS ?=
ATTEMPT    ?=
CUSTOMER   ?= C-1001
OPERATOR   ?= operator1

SOURCES    := config $(wildcard ngx_http_twanon_module/*.[ch])

include t/nginx-test.mk

.PHONY: all build deps node-deps test-deps npm-deps nginx-source console \
        demo call call-out fuzz test-valgrind test-asan test test-private \
        bench bench-instr bench-profile \
        bench-deps clean \
        fuzz-targets deb deb-deps test-deb nginx-1.26 test-1.26 \
        nginx-static test-static FORCE

all: build

build: $(MODULE)

# Each installs only what is missing, so that repeated runs cost nothing
# (apt_install is defined with bench-deps below).
deps:
	@$(call apt_install,$(DEB_PKGS))

# Debian's nodejs and npm, unless node and npm are found already (such as
# NodeSource's nodejs, which has npm in it)
node-deps: | deps
	@if ! command -v node >/dev/null || ! command -v npm >/dev/null; then \
	    $(call apt_install,$(NODE_PKGS)); \
	fi

test-deps: node-deps
	@$(call apt_install,$(TEST_PKGS))

# nginx is configured (a fresh copy of NGINX_SRC in build/nginx) only
# when the module's config, the nginx source or the flags change; a .c or
# .h edit only runs nginx's objs/Makefile again, which lists the module's
# sources and the headers config names (ngx_module_deps), and compiles
# again what changed.  A header config does not name compiles the
# module's objects again (module_objs_fresh).
NGX_BUILD  := $(BUILD)/nginx
NGX_FLAGS  := $(NGINX_SRC) $(CURDIR) $(CC_OPT) $(LD_OPT)
NGX_INPUTS := $(wildcard $(NGINX_SRC)/configure $(NGINX_SRC)/conf_flags \
                $(NGINX_SRC)/src/core/nginx.h)

$(MODULE): $(NGX_BUILD)/objs/Makefile $(SOURCES)
	@$(call module_objs_fresh,$(NGX_BUILD)/objs,$@)
	$(MAKE) -C $(NGX_BUILD) -f objs/Makefile modules
	cp $(NGX_BUILD)/objs/ngx_http_twanon_module.so $@.tmp
	mv -f $@.tmp $@

$(NGX_BUILD)/objs/Makefile: config $(NGX_INPUTS) $(BUILD)/nginx.flags | deps
	rm -rf $(NGX_BUILD)
	mkdir -p $(BUILD)
	cp -a $(NGINX_SRC) $(NGX_BUILD)
	cd $(NGX_BUILD) && \
	    if [ -f conf_flags ]; then . ./conf_flags; fi && \
	    ./configure "$${NGX_CONF_FLAGS[@]}" \
	        --with-cc-opt="$(CC_OPT)" --with-ld-opt="$(LD_OPT)" \
	        --add-dynamic-module=$(CURDIR) > $(BUILD)/configure.log \
	        || { tail -20 $(BUILD)/configure.log; exit 1; }

# rewritten only when the flags differ from the last configure's
$(BUILD)/nginx.flags: FORCE
	@mkdir -p $(BUILD)
	@echo '$(NGX_FLAGS)' | cmp -s - $@ || echo '$(NGX_FLAGS)' > $@

# $(call module_objs_fresh,objs,target): removes the module's objects
# under objs/addon when a header of ngx_http_twanon_module/ that
# objs/Makefile does not list is newer than target, so that nginx's
# Makefile compiles them again
MODULE_HDRS := $(wildcard $(CURDIR)/ngx_http_twanon_module/*.h)

module_objs_fresh = for h in $(MODULE_HDRS); do \
	    [ -e $(2) ] && [ $$h -nt $(2) ] || continue; \
	    grep -qF $$h $(1)/Makefile && continue; \
	    echo "$$h: not in config's ngx_module_deps, compiling again"; \
	    rm -f $(1)/addon/ngx_http_twanon_module/*.o; break; \
	done

# nginx's upstream tarballs, from Debian's source packages (Debian's
# patches are not needed to build a test binary).  Each suite's deb-src
# entry lives in a private apt state under build/<suite>/ (its own
# sources file, lists and cache), so that the machine's apt configuration
# never changes.  apt checks the tarball against the suite's signed
# Sources index; the .dsc of an older upload may be gone (404), which
# leaves the tarball in place.
APT_SUITE = -o Dir::Etc::SourceList=$(BUILD)/$(1)/$(1).sources \
            -o Dir::Etc::SourceParts=/dev/null \
            -o Dir::State::Lists=$(BUILD)/$(1)/lists \
            -o Dir::Cache=$(BUILD)/$(1)/cache -o APT::Sandbox::User=root

# $(call nginx_orig,suite,version): the recipe for build/suite/
# nginx_version.orig.tar.gz
nginx_orig = mkdir -p $(BUILD)/$(1)/lists/partial $(BUILD)/$(1)/cache; \
	printf '%s\n' 'Types: deb-src' 'URIs: http://deb.debian.org/debian' \
	    'Suites: $(1)' 'Components: main' \
	    'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg' \
	    > $(BUILD)/$(1)/$(1).sources; \
	apt-get $(call APT_SUITE,$(1)) update -q || exit 1; \
	cd $(BUILD)/$(1) && { apt-get $(call APT_SUITE,$(1)) source -q \
	    --download-only nginx/$(1); \
	    [ -f nginx_$(2).orig.tar.gz ] || { echo "no nginx $(2) in $(1)"; \
	    exit 1; }; }

# nginx 1.22.1 of Debian 12, for the sanitizer and fuzzing builds
NGINX_VERSION := 1.22.1
NGINX_ORIG    := $(BUILD)/nginx-$(NGINX_VERSION)
NGINX_TAR     := $(BUILD)/bookworm/nginx_$(NGINX_VERSION).orig.tar.gz

nginx-source: $(NGINX_ORIG)/configure

$(NGINX_TAR): | deps
	@$(call nginx_orig,bookworm,$(NGINX_VERSION))

$(NGINX_ORIG)/configure: $(NGINX_TAR)
	rm -rf $(NGINX_ORIG)
	mkdir -p $(NGINX_ORIG)
	tar xzf $< -C $(NGINX_ORIG) --strip-components=1
	touch $@

# nginx 1.26.3 of Debian 13 (trixie), built into a test binary with the
# flags of t/nginx-test.mk (--with-compat among them); the same flags go
# into its conf_flags, which the module build reads:
#
#   make nginx-1.26     build/nginx-1.26/objs/nginx and the source tree
#   make test-1.26      the module built against it in build/test-1.26/,
#                       and the whole suite run against that binary
NEWER_VERSION := 1.26.3
NEWER_DIR     := $(BUILD)/nginx-1.26
NEWER_NGINX   := $(NEWER_DIR)/objs/nginx
NEWER_TAR     := $(BUILD)/trixie/nginx_$(NEWER_VERSION).orig.tar.gz
NEWER_BUILD   := $(BUILD)/test-1.26
NEWER_MODULE  := $(NEWER_BUILD)/ngx_http_twanon_module.so
NEWER_PREFIX  := $(NEWER_DIR)/prefix
NEWER_CONF    := $(call nginx_test_conf,$(NEWER_PREFIX),$(NEWER_PREFIX)/modules)
NEWER_CC_OPT  := -g -O2 -fstack-protector-strong -Wformat \
                 -Werror=format-security -D_FORTIFY_SOURCE=2 -fPIC

nginx-1.26: $(NEWER_NGINX)

$(NEWER_TAR): | deps
	@$(call nginx_orig,trixie,$(NEWER_VERSION))

$(NEWER_NGINX): $(NEWER_TAR)
	rm -rf $(NEWER_DIR)
	mkdir -p $(NEWER_DIR)
	tar xzf $< -C $(NEWER_DIR) --strip-components=1
	cd $(NEWER_DIR) && \
	    printf 'NGX_CONF_FLAGS=( %s )\n' '$(NEWER_CONF)' > conf_flags && \
	    ./configure $(NEWER_CONF) --with-cc-opt='$(NEWER_CC_OPT)' \
	        --with-ld-opt='$(LD_OPT)' > configure.log \
	        || { tail -20 configure.log; exit 1; }
	$(MAKE) -j$$(nproc) -C $(NEWER_DIR) -f objs/Makefile
	mkdir -p $(NEWER_PREFIX)/logs $(NEWER_PREFIX)/modules

# "make build" of this Makefile, into build/test-1.26
$(NEWER_MODULE): $(NEWER_NGINX) $(SOURCES)
	$(MAKE) build BUILD=$(NEWER_BUILD) NGINX_SRC=$(NEWER_DIR)

test-1.26: $(NEWER_MODULE) test-deps npm-deps fuzz-targets
	@$(call run_suite,$(NEWER_NGINX),$(NEWER_MODULE),test-1.26)

# nginx 1.22.1 of Debian 12 (make nginx-source) with the module linked in
# (--add-module, no load_module line: the tests run with an empty
# TEST_NGINX_MODULE), configured with the flags of t/nginx-test.mk into
# build/static/, like test-asan's build:
#
#   make nginx-static   build/static/objs/nginx
#   make test-static    the whole suite against it
#
# t/twanon_demo.t tests "make demo", which always runs Debian's nginx and
# build/ngx_http_twanon_module.so: test-static builds that module too.
STATIC_DIR    := $(BUILD)/static
STATIC_SRC    := $(STATIC_DIR)/nginx-src
STATIC_OBJS   := $(STATIC_DIR)/objs
STATIC_PREFIX := $(STATIC_DIR)/prefix
STATIC_NGINX  := $(STATIC_OBJS)/nginx
STATIC_MODS   := $(STATIC_PREFIX)/modules
STATIC_CONF   := $(call nginx_test_conf,$(STATIC_PREFIX),$(STATIC_MODS))
STATIC_FLAGS  := $(STATIC_CONF) \
                 --builddir=$(STATIC_OBJS) --add-module=$(CURDIR) \
                 --with-cc-opt='$(NEWER_CC_OPT)' --with-ld-opt='$(LD_OPT)'

# make always reads objs/Makefile, which lists the module's sources, so
# that a changed source is compiled again and nginx linked again
nginx-static: $(STATIC_OBJS)/Makefile
	@$(call module_objs_fresh,$(STATIC_OBJS),$(STATIC_NGINX))
	$(MAKE) -j$$(nproc) -C $(STATIC_SRC) -f $(STATIC_OBJS)/Makefile
	mkdir -p $(STATIC_PREFIX)/logs

# configure again only when the flags or the module's config change
$(STATIC_DIR)/flags: FORCE
	@mkdir -p $(STATIC_DIR)
	@echo "$(STATIC_FLAGS)" | cmp -s - $@ || echo "$(STATIC_FLAGS)" > $@

FORCE:

$(STATIC_OBJS)/Makefile: $(NGINX_ORIG)/configure config $(STATIC_DIR)/flags
	rm -rf $(STATIC_SRC) $(STATIC_OBJS)
	cp -a $(NGINX_ORIG) $(STATIC_SRC)
	cd $(STATIC_SRC) && ./configure $(STATIC_FLAGS) \
	    > $(STATIC_DIR)/configure.log 2>&1 \
	    || { tail -30 $(STATIC_DIR)/configure.log; exit 1; }

test-static: nginx-static build test-deps npm-deps fuzz-targets
	@$(call run_suite,$(STATIC_NGINX),,test-static)

# npm ci in each folder with a lock file, unless node_modules is current
npm-deps: | node-deps
	for d in t/interop t/browser html; do \
	    [ -f $$d/package-lock.json ] || continue; \
	    [ -d $$d/node_modules ] && [ $$d/node_modules/.package-lock.json -nt \
	        $$d/package-lock.json ] && continue; \
	    (cd $$d && npm ci --no-audit --no-fund) || exit 1; \
	done

# the console: the Voice SDK from npm, copied next to the page
console: npm-deps
	mkdir -p html/vendor
	cp html/node_modules/@twilio/voice-sdk/dist/twilio.min.js \
	    html/vendor/twilio.min.js

# nginx in the foreground with docs/examples/demo.conf; Ctrl-C stops it.
#
# Run as root, nginx's workers run as "nobody", which cannot enter a
# checkout under a private home (/root is mode 700): they would answer
# 403 for the console.  So the workers read nothing of the checkout: the
# demo's prefix, with nginx.conf, the temp paths and a world-readable
# copy of html/ (less node_modules), is a fresh directory under /tmp
# (not $TMPDIR, which may be private), removed when the demo stops;
# DEMO=dir names another, emptied first and kept.  The workers stay
# unprivileged (no "user root"), and nginx.conf, whose credentials are
# fake anyway, is readable by its owner only: the master reads it before
# it drops privileges, and loads the module from build/ as root too.
# nginx runs in the background of this shell, which waits for it, passes
# it an interrupt or a termination (make sends TERM to its child), and
# then removes the prefix.
demo: build console
	@set -e; \
	if [ -n '$(DEMO)' ]; then \
	    prefix='$(DEMO)'; rm -rf "$$prefix"; mkdir -p "$$prefix"; \
	    prefix=$$(cd "$$prefix" && pwd); \
	else \
	    prefix=$$(mktemp -d /tmp/twanon-demo.XXXXXX); \
	    trap 'rm -rf "$$prefix"' EXIT; \
	fi; \
	echo "twanon demo: prefix $$prefix"; \
	mkdir -p "$$prefix/tmp" "$$prefix/html"; \
	tar -C html --exclude=./node_modules -cf - . \
	    | tar -C "$$prefix/html" --no-same-owner -xf -; \
	chmod -R u+rwX,go=rX "$$prefix/html"; \
	chmod 755 "$$prefix" "$$prefix/tmp"; \
	(umask 077; sed -e 's#@@MODULE@@#$(MODULE)#' \
	    -e "s#@@PREFIX@@#$$prefix#g" -e "s#@@HTML@@#$$prefix/html#" \
	    -e 's#@@PORT@@#$(DEMO_PORT)#g' \
	    -e 's#@@EXAMPLES@@#$(CURDIR)/docs/examples#g' \
	    docs/examples/demo.conf > "$$prefix/nginx.conf"); \
	$(NGINX_BIN) -q -t -p "$$prefix/" -c "$$prefix/nginx.conf"; \
	echo; \
	echo "twanon demo: open http://127.0.0.1:$(DEMO_PORT)/ and press Start;"; \
	echo "then \"make call\" in another terminal, or the page's"; \
	echo "\"Simulate incoming call\".  Ctrl-C stops the demo."; \
	echo; \
	$(NGINX_BIN) -p "$$prefix/" -c "$$prefix/nginx.conf" & nginx=$$!; \
	trap 'kill -TERM $$nginx 2>/dev/null || :' INT TERM HUP; \
	rc=0; \
	while kill -0 $$nginx 2>/dev/null; do \
	    rc=0; wait $$nginx || rc=$$?; \
	done; \
	exit $$rc

# a correctly signed webhook to the running demo; prints the TwiML.  With
# DIAL_STATUS (busy, no-answer, failed, completed...), the request Twilio
# sends to the <Dial> action instead, after the attempt ATTEMPT (1 when
# unset): the after-dial step's TwiML
AFTER_QUERY = $(if $(filter-out 1,$(ATTEMPT)),?attempt=$(ATTEMPT))
CALL_PATH = $(if $(DIAL_STATUS),/after-dial$(AFTER_QUERY),/incoming)

call:
	@perl docs/examples/twanon-call.pl \
	    --url '$(if $(DIAL_STATUS),http://127.0.0.1:$(DEMO_PORT)$(CALL_PATH),$(CALL_URL))' \
	    --signed-url 'https://demo.twanon.invalid$(CALL_PATH)' \
	    --account AC00000000000000000000000000000000 \
	    $(if $(DIAL_STATUS),--dial-status '$(DIAL_STATUS)') \
	    --token demo-auth-token-not-for-production --from '$(FROM)'

# an operator's masked callback to the running demo, by customer ID: the
# request Twilio sends to the TwiML App's Voice URL; prints the TwiML
call-out:
	@perl docs/examples/twanon-call.pl \
	    --url 'http://127.0.0.1:$(DEMO_PORT)/outgoing' \
	    --signed-url https://demo.twanon.invalid/outgoing \
	    --account AC00000000000000000000000000000000 \
	    --token demo-auth-token-not-for-production \
	    --customer '$(CUSTOMER)' --operator '$(OPERATOR)'

# hardening: libFuzzer targets over the pure functions, and the whole
# suite under valgrind memcheck and under AddressSanitizer
FUZZ_SECONDS ?= 60

fuzz: nginx-source
	$(MAKE) -f t/fuzz/fuzz.mk TOP=$(CURDIR) BUILD=$(BUILD) \
	    NGINX_ORIG=$(NGINX_ORIG) FUZZ_SECONDS=$(FUZZ_SECONDS) run

# the fuzz binaries (clang, libFuzzer, ASan + UBSan) that
# t/twanon_fuzz_regress.t replays the seeds and regression inputs through
fuzz-targets: nginx-source
	$(MAKE) -f t/fuzz/fuzz.mk TOP=$(CURDIR) BUILD=$(BUILD) \
	    NGINX_ORIG=$(NGINX_ORIG) targets

test-valgrind: build test-deps npm-deps fuzz-targets
	$(MAKE) -f t/sanitize.mk TOP=$(CURDIR) BUILD=$(BUILD) \
	    NGINX_BIN=$(NGINX_BIN) MODULE=$(MODULE) valgrind

test-asan: nginx-source test-deps npm-deps fuzz-targets
	$(MAKE) -f t/sanitize.mk TOP=$(CURDIR) BUILD=$(BUILD) \
	    NGINX_ORIG=$(NGINX_ORIG) asan

# wrk and callgrind against Debian's nginx, about 3 minutes on 2 cores;
# BENCH_DURATION, BENCH_ROUNDS, BENCH_CONNECTIONS: see t/bench/bench.pl.
# Both fail when a handler takes more instructions per request than its
# budget (bench.pl's %BUDGET); bench-instr runs callgrind alone.
BENCH_RUN = TOP=$(CURDIR) NGINX_BIN=$(NGINX_BIN) MODULE=$(MODULE) \
	BENCH_TMP=$(BUILD) perl t/bench/bench.pl

bench: build bench-deps
	$(BENCH_RUN)

bench-instr: build
	@$(call apt_install,valgrind)
	BENCH_ONLY=callgrind $(BENCH_RUN)

# where the instructions go: each side of BENCH_PROFILE (incoming,proxy
# unless given) per function, from callgrind_annotate, the callgrind.out
# files kept in build/twanon-bench-*/
bench-profile: build
	@$(call apt_install,valgrind)
	BENCH_ONLY=profile BENCH_PROFILE=$${BENCH_PROFILE:-incoming,proxy} \
	    BENCH_KEEP=1 $(BENCH_RUN)

# $(call apt_install,packages): installs those of them that are missing
apt_install = missing=""; \
	for p in $(1); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null \
	        | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	    echo "installing:$$missing"; \
	    apt-get update -q && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	        --no-install-recommends $$missing || exit 1; \
	fi

bench-deps: | deps
	@$(call apt_install,wrk valgrind util-linux)

# $(call run_suite,nginx,module,target): every t/*.t against that pair
# (an empty module: linked into nginx), the fuzz regression inputs through
# the binaries of fuzz-targets included; prove's output goes to
# build/<target>.log too, and the skipped files are listed at the end
# (prove_logged, t/nginx-test.mk)
run_suite = $(call prove_logged,$(3),cd t && TEST_NGINX_BINARY=$(1) \
	TEST_NGINX_MODULE=$(2) TEST_TWANON_FUZZ_BIN=$(BUILD)/fuzz/bin \
	prove -v -r .)

test: build test-deps npm-deps fuzz-targets
	@$(call run_suite,$(NGINX_BIN),$(MODULE),test)

# "make test" from a clone of the current commit (HEAD: what is not
# committed is not in it) in a directory only its owner may enter, as
# /root is: nginx's workers, "nobody" when make runs as root, must read
# nothing of the checkout (make demo, the test prefixes), and this keeps
# it so.  Its $TMPDIR is private too (as libpam-tmpdir's is), where the
# harness must not put the test prefixes then.  The clone gets the nginx
# tarball of "make nginx-source" when there, rather than fetching it
# again, builds the rest itself and is removed at the end; its prove
# output is kept as build/test-private.log.  Only NGINX_SRC and
# NGINX_BIN are passed on.  The directory's name has no ".": nginx's
# configure rewrites ".c", ".cc", ".cpp" and ".S" anywhere in its build
# path, so a random "tmp.SxXXXXXX" broke the fuzz build's nginx once.
test-private:
	@set -e; \
	tmp=$$(mktemp -d /tmp/twanon-private-XXXXXXXX); \
	trap 'rm -rf "$$tmp"' EXIT; \
	clone=$$tmp/private/twanon; \
	mkdir -p "$$tmp/private/tmp"; \
	chmod 700 "$$tmp" "$$tmp/private" "$$tmp/private/tmp"; \
	git clone -q --no-checkout $(CURDIR) "$$clone"; \
	git -C "$$clone" fetch -q $(CURDIR) HEAD; \
	git -C "$$clone" checkout -q --detach FETCH_HEAD; \
	echo "test-private: $$(git -C "$$clone" log --oneline -1) in $$clone"; \
	if [ -f $(NGINX_TAR) ]; then \
	    mkdir -p "$$clone/build"; cp -a $(dir $(NGINX_TAR)) "$$clone/build/"; \
	fi; \
	rc=0; \
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL TMPDIR="$$tmp/private/tmp" \
	    $(MAKE) -C "$$clone" test \
	    NGINX_SRC=$(NGINX_SRC) NGINX_BIN=$(NGINX_BIN) || rc=$$?; \
	mkdir -p $(BUILD); \
	cp "$$clone/build/test.log" $(BUILD)/test-private.log 2>/dev/null || :; \
	exit $$rc

clean:
	rm -rf $(BUILD)

# The Debian package libnginx-mod-http-twanon (debian/), built the way
# Debian's own nginx modules are (dh-sequence-nginx from nginx-dev), from
# a copy of the tree in build/deb/src so that the work tree stays clean;
# the .deb is copied to build/ and lintian must find no error or warning.
# The console's Twilio Voice SDK comes from "make console" beforehand, so
# that dpkg-buildpackage itself never needs the network.
#
# What "make deb" installs and needs, and says so when it starts: the npm
# registry (make console runs "npm ci" in html/, t/interop/ and
# t/browser/, after installing Debian's nodejs and npm if node is
# missing); with apt-get, dpkg-dev and lintian (lintian alone brings in
# more than 100 Perl library packages on a fresh Debian 12), then
# debian/control's Build-Depends (debhelper, nginx-dev for
# dh-sequence-nginx, the -dev libraries) through "apt-get build-dep" when
# dpkg-checkbuilddeps finds one missing.  "make test-deb" also installs
# curl, openssl, perl and libio-socket-ssl-perl, and installs, then purges
# the package on this machine.
DEB_PACKAGE := libnginx-mod-http-twanon
DEB_VERSION := $(shell sed -n '1s/^[^(]*(\([^)]*\)).*/\1/p' debian/changelog)
DEB_ARCH    := $(shell dpkg --print-architecture)
DEB_DIR     := $(BUILD)/deb
DEB_FILE    := $(BUILD)/$(DEB_PACKAGE)_$(DEB_VERSION)_$(DEB_ARCH).deb
DEB_CHANGES := $(DEB_DIR)/$(DEB_PACKAGE)_$(DEB_VERSION)_$(DEB_ARCH).changes
DEB_TOOLS   := dpkg-dev lintian
DEB_INPUTS  := $(SOURCES) $(wildcard debian/* debian/*/*) README.md \
               $(wildcard docs/*.md docs/*.png docs/examples/*) \
               $(wildcard html/*.html html/*.js html/*.css html/*.json) \
               html/vendor/twilio.min.js

deb: $(DEB_FILE)

ifneq ($(filter deb test-deb $(DEB_FILE),$(MAKECMDGOALS)),)
$(info make deb: needs the npm registry (the console's Twilio Voice SDK) \
and installs what is missing with apt-get: dpkg-dev, lintian (with its \
Perl libraries) and debian/control's Build-Depends)
endif

# dpkg-dev and lintian, then debian/control's Build-Depends through
# "apt-get build-dep" on the tree, only when something is missing
deb-deps:
	@$(call apt_install,$(DEB_TOOLS)); \
	if ! dpkg-checkbuilddeps 2>/dev/null; then \
	    apt-get update -q && \
	    DEBIAN_FRONTEND=noninteractive apt-get build-dep -y -q \
	        --no-install-recommends ./; \
	fi

html/vendor/twilio.min.js: html/package-lock.json
	$(MAKE) console

# the files git would see (tracked and untracked, not ignored), plus the
# console's SDK, which is ignored
$(DEB_FILE): $(DEB_INPUTS) | deb-deps
	rm -rf $(DEB_DIR)
	mkdir -p $(DEB_DIR)/src/html/vendor
	if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then \
	    git ls-files -z -c -o --exclude-standard \
	        | tar -c --null -T - --ignore-failed-read -f - \
	        | tar -x -C $(DEB_DIR)/src -f -; \
	else \
	    tar -c --exclude-vcs --exclude=./build --exclude=node_modules \
	        -f - . | tar -x -C $(DEB_DIR)/src -f -; \
	fi
	cp html/vendor/twilio.min.js $(DEB_DIR)/src/html/vendor/
	cd $(DEB_DIR)/src && dpkg-buildpackage -us -uc -b
	lintian -I --pedantic --fail-on error,warning $(DEB_CHANGES)
	cp $(DEB_DIR)/$(notdir $@) $@.tmp
	mv -f $@.tmp $@

# installs the .deb, checks its files and the modules-enabled symlink,
# runs nginx with the packaged example configuration on loopback ports,
# then removes and purges the package (t/deb/test-deb.sh)
test-deb: $(DEB_FILE)
	@$(call apt_install,curl openssl perl libio-socket-ssl-perl)
	t/deb/test-deb.sh $(DEB_FILE)
