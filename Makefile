# twanon: build, test and run the module against Debian 12's nginx.
#
#   make          build build/ngx_http_twanon_module.so
#   make test     install what is missing, build, run the whole suite
#
# NGINX_SRC may name another nginx source tree (configured with the same
# flags as the nginx that loads the module); NGINX names the binary the
# tests run.

SHELL      := /bin/bash
BUILD      := $(CURDIR)/build
NGINX_SRC  ?= /usr/share/nginx/src
NGINX      ?= /usr/sbin/nginx
MODULE     := $(BUILD)/ngx_http_twanon_module.so
CC_OPT     := -g -O2 -fPIC -fstack-protector-strong -Wformat \
              -Werror=format-security -D_FORTIFY_SOURCE=2 \
              -Wall -Wextra -Werror
LD_OPT     := -Wl,-z,relro -Wl,-z,now -fPIC

DEB_PKGS   := nginx nginx-dev libssl-dev libxml2-dev libjansson-dev \
              libpcre2-dev zlib1g-dev gcc make perl nodejs npm

SOURCES    := config $(wildcard ngx_http_twanon_module/*.[ch])

.PHONY: all build deps npm-deps test prove clean

all: build

build: $(MODULE)

# Installs only what is missing, so that repeated runs cost nothing.
deps:
	@missing=""; \
	for p in $(DEB_PKGS); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null \
	        | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	    command -v node >/dev/null && command -v npm >/dev/null \
	        && missing=$$(echo $$missing | tr ' ' '\n' \
	                      | grep -vx -e nodejs -e npm | tr '\n' ' '); \
	fi; \
	if [ -n "$${missing// /}" ]; then \
	    echo "installing:$$missing"; \
	    apt-get update -q && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	        --no-install-recommends $$missing; \
	fi

$(MODULE): $(SOURCES) | deps
	rm -rf $(BUILD)/nginx
	mkdir -p $(BUILD)
	cp -a $(NGINX_SRC) $(BUILD)/nginx
	cd $(BUILD)/nginx && \
	    if [ -f conf_flags ]; then . ./conf_flags; fi && \
	    ./configure "$${NGX_CONF_FLAGS[@]}" \
	        --with-cc-opt="$(CC_OPT)" --with-ld-opt="$(LD_OPT)" \
	        --add-dynamic-module=$(CURDIR) > $(BUILD)/configure.log \
	        || { tail -20 $(BUILD)/configure.log; exit 1; }
	$(MAKE) -C $(BUILD)/nginx -f objs/Makefile modules
	cp $(BUILD)/nginx/objs/ngx_http_twanon_module.so $@.tmp
	mv -f $@.tmp $@

npm-deps: | deps
	cd t/interop && \
	    { [ -d node_modules ] && [ node_modules/.package-lock.json -nt \
	        package-lock.json ] || npm ci --no-audit --no-fund; }

test: build npm-deps
	cd t && TEST_NGINX_BINARY=$(NGINX) TEST_NGINX_MODULE=$(MODULE) \
	    prove -v -r .

clean:
	rm -rf $(BUILD)
