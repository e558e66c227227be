# Copyright (C) twanon authors
#
# The whole t/ suite under memory checkers; called by the top-level
# Makefile, which builds what each goal needs first:
#
#   make test-valgrind   -> make -f t/sanitize.mk valgrind
#       Debian's nginx and build/ngx_http_twanon_module.so, every nginx
#       (and every nginx -t) under valgrind memcheck, one process each
#       ("master_process off", see t/lib/Test/Twanon.pm); each test file
#       then has a third end check, "no valgrind errors".  Suppressions of
#       nginx's own leaks: t/valgrind.supp.
#
#   make test-asan       -> make -f t/sanitize.mk asan
#       nginx 1.22.1 itself and the module, both built from nginx's
#       upstream source (make nginx-source) with AddressSanitizer and
#       UndefinedBehaviorSanitizer into build/asan/; the suite runs against
#       that nginx, and the harness's end check "no sanitizer errors" fails
#       on any report in stderr.log, error.log or nginx -t's output.
#
# Variables: TOP (the repository), BUILD, NGINX_BIN and MODULE (valgrind),
# NGINX_ORIG (the pristine nginx source tree; asan only reads it), PROVE
# (the prove command line, run from t/).

SHELL       := /bin/bash
TOP         ?= $(CURDIR)
BUILD       ?= $(TOP)/build
NGINX_BIN   ?= /usr/sbin/nginx
MODULE      ?= $(BUILD)/ngx_http_twanon_module.so
NGINX_ORIG  ?= $(BUILD)/nginx-1.22.1
PROVE       ?= prove -r .

.PHONY: valgrind valgrind-deps asan asan-build FORCE

include $(TOP)/t/nginx-test.mk

###############################################################################

# valgrind: about 4 minutes on 2 cores (1 for "make test")

valgrind: valgrind-deps
	@$(call prove_logged,test-valgrind,cd $(TOP)/t && \
	    TEST_NGINX_VALGRIND=1 \
	    TEST_NGINX_BINARY=$(NGINX_BIN) TEST_NGINX_MODULE=$(MODULE) \
	    $(PROVE))

valgrind-deps:
	@command -v valgrind >/dev/null || { \
	    echo "installing: valgrind"; \
	    apt-get update -q && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	        --no-install-recommends valgrind; }

###############################################################################

# asan: nginx's upstream source, copied (configure writes a Makefile into
# the tree it runs in; NGINX_ORIG is shared with the fuzzing build and
# stays pristine), configured with the test flags of t/nginx-test.mk
# (Debian's, less what no test uses), and the module added as Debian's
# dynamic modules are.
#
# NGX_DEBUG_PALLOC=1 makes every ngx_palloc() a malloc() of its own, so
# that ASan sees the bounds of each allocation from a pool instead of one
# 16 KiB block holding many.

ASAN_DIR    := $(BUILD)/asan
ASAN_SRC    := $(ASAN_DIR)/nginx-src
ASAN_OBJS   := $(ASAN_DIR)/objs
ASAN_PREFIX := $(ASAN_DIR)/prefix
ASAN_NGINX  := $(ASAN_OBJS)/nginx
ASAN_MODULE := $(ASAN_OBJS)/ngx_http_twanon_module.so

ASAN_CC_OPT := -fsanitize=address,undefined -fno-omit-frame-pointer -g -O1 \
               -DNGX_DEBUG_PALLOC=1 -Wformat -Werror=format-security
ASAN_LD_OPT := -fsanitize=address,undefined -Wl,-z,nodelete

ASAN_CONF   := $(call nginx_test_conf,$(ASAN_PREFIX),$(ASAN_OBJS)) \
               --builddir=$(ASAN_OBJS) --add-dynamic-module=$(TOP)

# Sanitizer options.
#
# ASan: every report goes to stderr, which nginx points at its error log
# (the harness's error.log; nginx -t's output), where the harness's "no
# sanitizer errors" end check finds "ERROR: AddressSanitizer" and prints
# the report; abort_on_error=0 (a report ends the process with exit code
# 1, and no core dump).  detect_odr_violation=0: every nginx dynamic
# module defines ngx_modules and ngx_module_names of its own (objs/
# ngx_http_twanon_module_modules.c, which nginx finds with dlsym()), next
# to the binary's own of another size, by nginx's design.
#
# UBSan: print_stacktrace, and every "runtime error:" of a run is logged
# (halt_on_error=0, the default), not only the first; suppressions of
# nginx's own reports, each with its reason: t/ubsan.supp.
#
# LeakSanitizer stays on (detect_leaks=1) for every nginx that runs: a
# worker and a master destroy the cycle pool as they exit
# (ngx_worker_process_exit, ngx_master_process_exit), so a block left
# unreachable then is a real leak, reported in error.log like any other
# ASan report.  It is off only for "nginx -t", whose main() returns after
# the test with the whole new cycle in a local variable (src/core/nginx.c:
# "test is successful" ... return 0, before "ngx_cycle = cycle"), so that
# every byte of the configuration would be reported as leaked by nginx on
# purpose and no suppression could tell the module's blocks from nginx's
# (LeakSanitizer matches any frame of a stack, and every allocation of a
# configuration comes from ngx_init_cycle()).  The harness turns it off
# for nginx -t under TEST_NGINX_ASAN=1; valgrind does check nginx -t, with
# suppressions pinned to the exact frames of that pool (t/valgrind.supp).
# The block nginx loses at every exit is suppressed in t/lsan.supp, with
# its reason.
#
# GCC links UBSan as a runtime of its own (libubsan), which reads
# UBSAN_OPTIONS at its first report, from /proc/self/environ, which nginx
# overwrites with its process title: the options hold because nginx's own
# first report (ngx_pstrdup, t/ubsan.supp) comes early in ngx_init_cycle().
# Its symbolizer (libbacktrace) knows only the objects loaded by then, not
# the module: the harness names the module's frames of a failed "no
# sanitizer errors" with addr2line.
#
# -Wl,-z,nodelete keeps the module mapped after nginx dlclose()s it as the
# cycle pool goes, so that a leak found at exit is reported with the
# module's function names instead of "<unknown module>".

ASAN_OPTIONS_ALL  := detect_leaks=1:abort_on_error=0:detect_odr_violation=0
UBSAN_OPTIONS_ALL := print_stacktrace=1:halt_on_error=0:$\
                     suppressions=$(TOP)/t/ubsan.supp
LSAN_OPTIONS_ALL  := suppressions=$(TOP)/t/lsan.supp

# asan: about 3 minutes on 2 cores, and 5 more for the first build

asan: asan-build
	@$(call prove_logged,test-asan,cd $(TOP)/t && TEST_NGINX_ASAN=1 \
	    ASAN_OPTIONS=$(ASAN_OPTIONS_ALL) \
	    UBSAN_OPTIONS=$(UBSAN_OPTIONS_ALL) \
	    LSAN_OPTIONS=$(LSAN_OPTIONS_ALL) \
	    TEST_NGINX_BINARY=$(ASAN_NGINX) TEST_NGINX_MODULE=$(ASAN_MODULE) \
	    $(PROVE))

# make always looks into objs/Makefile, which knows nginx's and the
# module's sources, so a changed module source is rebuilt

asan-build: $(ASAN_OBJS)/Makefile
	$(MAKE) -j$$(nproc) -C $(ASAN_SRC) -f $(ASAN_OBJS)/Makefile
	mkdir -p $(ASAN_PREFIX)/logs

# configure again only when the flags or the module's config change

ASAN_FLAGS  := $(ASAN_CONF) --with-cc-opt='$(ASAN_CC_OPT)' \
               --with-ld-opt='$(ASAN_LD_OPT)'

$(ASAN_DIR)/flags: FORCE
	@mkdir -p $(ASAN_DIR)
	@echo "$(ASAN_FLAGS)" | cmp -s - $@ || echo "$(ASAN_FLAGS)" > $@

FORCE:

$(ASAN_OBJS)/Makefile: $(NGINX_ORIG)/configure $(TOP)/config \
		$(ASAN_DIR)/flags
	rm -rf $(ASAN_SRC) $(ASAN_OBJS)
	mkdir -p $(ASAN_DIR)
	cp -a $(NGINX_ORIG) $(ASAN_SRC)
	cd $(ASAN_SRC) && ./configure $(ASAN_FLAGS) \
	    > $(ASAN_DIR)/configure.log 2>&1 \
	    || { tail -30 $(ASAN_DIR)/configure.log; exit 1; }
