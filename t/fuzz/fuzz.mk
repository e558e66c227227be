# twanon: libFuzzer targets over the pure layer (ngx_http_twanon_lib.h).
#
#   make fuzz [FUZZ_SECONDS=60]         from the top-level Makefile
#   make -f t/fuzz/fuzz.mk TOP=$PWD run       build, fuzz each target
#   make -f t/fuzz/fuzz.mk TOP=$PWD regress   replay corpus and regress/
#   make -f t/fuzz/fuzz.mk TOP=$PWD targets   build only
#
# nginx's core (no http) is configured with clang and the sanitizers in
# a private copy of the upstream source under $(FUZZ)/, so that the tree
# that "make nginx-source" extracted stays untouched.  Each target links
# the module's pure files, nginx's core objects and the libraries.
# A crash, a sanitizer report, a leak or a timeout fails "run".

SHELL        := /bin/bash
TOP          ?= $(CURDIR)
BUILD        ?= $(TOP)/build
NGINX_ORIG   ?= $(BUILD)/nginx-1.22.1
FUZZ_SECONDS ?= 60
# targets fuzzed at a time, one core each: at most 2 by default
FUZZ_JOBS    ?= $(shell n=$$(nproc 2>/dev/null || echo 1); \
                  [ $$n -gt 2 ] && n=2; echo $$n)
FUZZ_ARGS    ?=
NPROC        := $(shell nproc 2>/dev/null || echo 1)

FUZZ         := $(BUILD)/fuzz
NGX_SRC      := $(FUZZ)/nginx-src
NGX_OBJS     := $(FUZZ)/nginx-objs
MOD_DIR      := $(TOP)/ngx_http_twanon_module
HERE         := $(TOP)/t/fuzz

TARGETS      := form signature route twiml identity jwt outgoing
PURE         := form signature route json twiml identity jwt hmac utf8

FUZZ_PKGS    := clang libclang-rt-14-dev libssl-dev libjansson-dev \
                libxml2-dev libpcre2-dev zlib1g-dev make

CC           := clang
# NGX_DEBUG_PALLOC: every pool allocation is its own malloc(), so that
# AddressSanitizer sees the bounds of each one.  UndefinedBehaviorSanitizer
# stays recoverable so that UBSAN_OPTIONS can name a suppressions file;
# halt_on_error=1 below makes every report a crash.
SAN_CFLAGS   := -g -O1 -fno-omit-frame-pointer -DNGX_DEBUG_PALLOC=1
NOLINK       := -fsanitize=fuzzer-no-link,address,undefined
LINK         := -fsanitize=fuzzer,address,undefined
WARN         := -Wall -Wextra -Wno-unused-parameter -Wno-sign-compare
LIBS         := -lssl -lcrypto -ljansson -lxml2 -lpcre2-8 -lcrypt -lz \
                -ldl -lpthread

NGX_INCS     := -I$(NGX_SRC)/src/core -I$(NGX_SRC)/src/event \
                -I$(NGX_SRC)/src/event/modules -I$(NGX_SRC)/src/os/unix \
                -I$(NGX_OBJS)
INCS         := $(NGX_INCS) -I$(MOD_DIR) -I$(HERE) -I/usr/include/libxml2

MOD_OBJS     := $(PURE:%=$(FUZZ)/obj/ngx_http_twanon_%.o)
# jansson only for the reference that fuzz_route holds the module's
# JSON reader to (fuzz_jansson_route.c)
COMMON_OBJS  := $(FUZZ)/obj/fuzz_common.o $(FUZZ)/obj/nginx_main.o \
                $(FUZZ)/obj/fuzz_jansson_route.o
NGX_LIB      := $(FUZZ)/obj/libngxcore.a
BINS         := $(TARGETS:%=$(FUZZ)/bin/fuzz_%)

LIBFUZZER_OPTS := -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
# the targets that read a resolver's reply take one as large as a
# subrequest_output_buffer_size may hold (1 MiB, as the docs' examples
# allow), and fail on any single allocation over 64 MiB; fuzz_route
# also bounds what one parse allocates in all
JSON_TARGETS   := route outgoing
JSON_OPTS      := -max_len=1048576 -malloc_limit_mb=64
# a 32 MiB quarantine (256 by default) makes libxml2's 4 KiB buffers
# several times faster to cycle, and still catches a use after free
export ASAN_OPTIONS  ?= detect_leaks=1:quarantine_size_mb=32
export UBSAN_OPTIONS ?= print_stacktrace=1:halt_on_error=1

.PHONY: all deps targets run regress clean clean-corpus FORCE
.DELETE_ON_ERROR:
.SECONDARY:

all: targets

# what is missing only; apt-get update first only then
deps:
	@missing=""; \
	for p in $(FUZZ_PKGS); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null \
	        | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	    echo "fuzz: installing:$$missing"; \
	    apt-get update -q && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	        --no-install-recommends $$missing; \
	fi

# a private copy of the source: configure writes ./Makefile into it
$(NGX_SRC)/configure: $(NGINX_ORIG)/configure | deps
	rm -rf $(NGX_SRC) $(NGX_OBJS)
	mkdir -p $(NGX_SRC)
	cp -a $(NGINX_ORIG)/configure $(NGINX_ORIG)/auto $(NGINX_ORIG)/src \
	    $(NGINX_ORIG)/conf $(NGINX_ORIG)/html $(NGINX_ORIG)/man $(NGX_SRC)/
	touch $@

# the core only: no http, mail or stream; PCRE kept for ngx_regex.
# configure runs again when these flags change (nginx.flags).
NGX_CONF_FLAGS := --builddir=$(NGX_OBJS) --with-cc=$(CC) \
                  --with-cc-opt="$(SAN_CFLAGS) $(NOLINK)" \
                  --with-ld-opt="-fsanitize=address,undefined" \
                  --without-http --without-select_module \
                  --without-poll_module --with-pcre

$(FUZZ)/nginx.flags: FORCE
	@mkdir -p $(@D)
	@echo '$(NGX_CONF_FLAGS)' | cmp -s - $@ \
	    || echo '$(NGX_CONF_FLAGS)' > $@

$(NGX_OBJS)/Makefile: $(NGX_SRC)/configure $(FUZZ)/nginx.flags
	rm -rf $(NGX_OBJS)
	cd $(NGX_SRC) && ./configure $(NGX_CONF_FLAGS) \
	    > $(FUZZ)/configure.log 2>&1 \
	    || { tail -30 $(FUZZ)/configure.log; exit 1; }

# every core, event and os object except the one with main(): nginx.c
# is compiled again with its main() renamed, for the globals it defines
$(NGX_LIB): $(NGX_OBJS)/Makefile
	cd $(NGX_SRC) && $(MAKE) -j$(NPROC) -f $(NGX_OBJS)/Makefile \
	    $(NGX_OBJS)/nginx \
	    > $(FUZZ)/nginx-build.log 2>&1 \
	    || { tail -30 $(FUZZ)/nginx-build.log; exit 1; }
	mkdir -p $(@D)
	rm -f $@
	ar rcs $@ $$(find $(NGX_OBJS) -name '*.o' ! -name nginx.o | sort)

$(FUZZ)/obj/nginx_main.o: $(NGX_LIB)
	$(CC) $(SAN_CFLAGS) $(NOLINK) $(NGX_INCS) -Dmain=ngx_fuzz_unused_main \
	    -c $(NGX_SRC)/src/core/nginx.c -o $@

$(FUZZ)/obj/ngx_http_twanon_%.o: $(MOD_DIR)/ngx_http_twanon_%.c \
        $(MOD_DIR)/ngx_http_twanon_lib.h $(NGX_LIB)
	@mkdir -p $(@D)
	$(CC) $(SAN_CFLAGS) $(NOLINK) $(WARN) $(INCS) -c $< -o $@

$(FUZZ)/obj/fuzz_%.o: $(HERE)/fuzz_%.c $(HERE)/fuzz_common.h \
        $(MOD_DIR)/ngx_http_twanon_lib.h $(NGX_LIB)
	@mkdir -p $(@D)
	$(CC) $(SAN_CFLAGS) $(NOLINK) $(WARN) $(INCS) -c $< -o $@

$(FUZZ)/bin/fuzz_%: $(FUZZ)/obj/fuzz_%.o $(COMMON_OBJS) $(MOD_OBJS) \
        $(NGX_LIB)
	@mkdir -p $(@D)
	$(CC) $(SAN_CFLAGS) $(LINK) -o $@ $< $(COMMON_OBJS) $(MOD_OBJS) \
	    $(NGX_LIB) $(LIBS)

targets: $(BINS)

# Each target fuzzes for FUZZ_SECONDS into its work corpus under
# $(FUZZ)/corpus/ (kept between runs; clean-corpus starts afresh),
# reading the committed seeds; FUZZ_JOBS targets at a time.  Crash
# inputs go to $(FUZZ)/artifacts/<target>/; once diagnosed, they belong
# in t/fuzz/regress/<target>/, which "regress" and
# t/twanon_fuzz_regress.t replay.
run: targets $(FUZZ)/seeds/json/escapes-1m
	@mkdir -p $(FUZZ)/logs; rm -f $(FUZZ)/summary.txt $(FUZZ)/logs/*.status
	@printf '%s\n' $(TARGETS) | xargs -P $(FUZZ_JOBS) -I{} $(SHELL) -c ' \
	    t={}; \
	    mkdir -p $(FUZZ)/corpus/$$t $(FUZZ)/artifacts/$$t; \
	    dirs="$(FUZZ)/corpus/$$t $(HERE)/corpus/$$t"; \
	    opts=""; \
	    case " $(JSON_TARGETS) " in *" $$t "*) \
	        opts="$(JSON_OPTS)"; dirs="$$dirs $(FUZZ)/seeds/json";; \
	    esac; \
	    echo "fuzz: $$t for $(FUZZ_SECONDS) s"; \
	    $(FUZZ)/bin/fuzz_$$t $(LIBFUZZER_OPTS) $$opts \
	        -max_total_time=$(FUZZ_SECONDS) \
	        -artifact_prefix=$(FUZZ)/artifacts/$$t/ $(FUZZ_ARGS) \
	        $$dirs > $(FUZZ)/logs/$$t.log 2>&1; \
	    echo $$? > $(FUZZ)/logs/$$t.status; true'
	@fail=0; \
	echo "# $$(date -u '+%Y-%m-%d %H:%M UTC'), $$($(CC) --version | head -1)," \
	    "FUZZ_SECONDS=$(FUZZ_SECONDS), FUZZ_JOBS=$(FUZZ_JOBS)" \
	    | tee $(FUZZ)/summary.txt; \
	for t in $(TARGETS); do \
	    log=$(FUZZ)/logs/$$t.log; rc=$$(cat $(FUZZ)/logs/$$t.status); \
	    runs=$$(sed -n 's/^stat::number_of_executed_units: *//p' $$log \
	            | tail -1); \
	    [ -n "$$runs" ] || runs=$$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' \
	                               $$log | tail -1); \
	    [ -n "$$runs" ] || runs=0; \
	    cov=$$(grep -o 'cov: [0-9]*' $$log | tail -1 | sed 's/cov: //'); \
	    if [ "$$rc" = 0 ] && ! grep -q -e '^==[0-9]*==ERROR' \
	            -e 'runtime error:' $$log; then \
	        res=ok; \
	    else \
	        res="FAILED (exit $$rc, log $$log)"; fail=1; \
	    fi; \
	    printf '%-10s %12s execs  %4s s  cov %-5s  %s\n' $$t $$runs \
	        $(FUZZ_SECONDS) "$${cov:-?}" "$$res" \
	        | tee -a $(FUZZ)/summary.txt; \
	done; \
	if [ $$fail = 1 ]; then \
	    for t in $(TARGETS); do \
	        [ "$$(cat $(FUZZ)/logs/$$t.status)" = 0 ] && continue; \
	        echo "---- $$t"; \
	        grep -m1 -A25 -e '^==[0-9]*==' -e 'runtime error:' \
	            -e 'invariant failed' $(FUZZ)/logs/$$t.log; \
	        ls $(FUZZ)/artifacts/$$t/ 2>/dev/null; \
	    done; \
	    echo "fuzz: FAILED; summary in $(FUZZ)/summary.txt"; exit 1; \
	fi; \
	echo "fuzz: all targets ran without a finding ($(FUZZ)/summary.txt)"

# a seed near max_len, too large to commit (json_seed.pl)
$(FUZZ)/seeds/json/escapes-1m: $(HERE)/json_seed.pl
	@mkdir -p $(@D)
	perl $< > $@

# every committed seed and regression input, once, no fuzzing
regress: targets
	@fail=0; \
	for t in $(TARGETS); do \
	    files=$$(find $(HERE)/corpus/$$t $(HERE)/regress/$$t -type f \
	             2>/dev/null | sort); \
	    [ -n "$$files" ] || continue; \
	    if $(FUZZ)/bin/fuzz_$$t $$files > $(FUZZ)/regress-$$t.log 2>&1; \
	    then \
	        echo "regress: $$t ok ($$(echo "$$files" | wc -l) inputs)"; \
	    else \
	        echo "regress: $$t FAILED, log $(FUZZ)/regress-$$t.log"; \
	        grep -m1 -A25 -e '^==[0-9]*==' -e 'runtime error:' \
	            -e 'invariant failed' $(FUZZ)/regress-$$t.log; \
	        fail=1; \
	    fi; \
	done; \
	exit $$fail

clean-corpus:
	rm -rf $(FUZZ)/corpus $(FUZZ)/artifacts $(FUZZ)/logs

clean:
	rm -rf $(FUZZ)
