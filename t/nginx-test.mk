# Shared by the Makefile and t/sanitize.mk: the configure flags of the
# test nginx binaries, and the prove run of each test target.

TWANON_T := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))

# The configure arguments of the nginx binaries the suite builds for
# itself (make test-asan, test-1.26, test-static): Debian 12's nginx -V,
# less the paths, which go under the given prefix, and less what no test
# uses and needs more libraries (mail, stream, geoip, image_filter, perl,
# xslt).
#
# $(call nginx_test_conf,prefix,modules-path)

nginx_test_conf = --prefix=$(1) \
    --conf-path=$(1)/conf/nginx.conf --error-log-path=stderr \
    --http-log-path=$(1)/logs/access.log \
    --pid-path=$(1)/nginx.pid --lock-path=$(1)/nginx.lock \
    --modules-path=$(2) \
    --http-client-body-temp-path=$(1)/body \
    --http-proxy-temp-path=$(1)/proxy \
    --http-fastcgi-temp-path=$(1)/fastcgi \
    --http-uwsgi-temp-path=$(1)/uwsgi \
    --http-scgi-temp-path=$(1)/scgi \
    --with-compat --with-debug --with-pcre-jit --with-threads \
    --with-http_ssl_module --with-http_stub_status_module \
    --with-http_realip_module --with-http_auth_request_module \
    --with-http_v2_module --with-http_dav_module --with-http_slice_module \
    --with-http_addition_module --with-http_flv_module \
    --with-http_gunzip_module --with-http_gzip_static_module \
    --with-http_mp4_module --with-http_random_index_module \
    --with-http_secure_link_module --with-http_sub_module

# $(call prove_logged,target,command): the command (prove, from t/), its
# output (stderr included) also written to build/<target>.log; then
# t/check-skips.pl lists each test file prove skipped, with its reason,
# and fails the target under CI=true when t/allowed-skips does not allow
# that reason for it.  prove's own exit status is kept, and the time the
# run took printed.

prove_logged = set -o pipefail; start=$$SECONDS; mkdir -p $(BUILD); \
	$(2) 2>&1 | tee $(BUILD)/$(1).log; rc=$$?; \
	echo "$(1): $$((SECONDS - start)) s"; \
	perl $(TWANON_T)/check-skips.pl --target=$(1) \
	    --allow=$(TWANON_T)/allowed-skips $(BUILD)/$(1).log || rc=1; \
	exit $$rc
