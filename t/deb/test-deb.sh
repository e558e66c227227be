#!/bin/bash
# Copyright (C) twanon authors
#
# t/deb/test-deb.sh PACKAGE.deb: installs the Debian package, checks where
# its files went and that dh_nginx's maintainer scripts enabled the module,
# runs nginx with the packaged example configuration (examples/twanon.conf,
# moved to loopback ports and a temporary prefix) loaded through
# /etc/nginx/modules-enabled, asks /token for a token and /incoming for
# TwiML, then removes and purges the package and checks that nothing is
# left.  "make test-deb" runs it; it needs root, apt-get, curl, openssl
# and perl.  TWANON_DEB_KEEP=1 keeps the temporary directory (configs,
# logs, replies).
#
# The test nginx has its own prefix, pid file, logs and temporary paths,
# so the system's nginx, running or not, is left alone; the package's
# postinst asks a running system nginx for a graceful reload (Debian's
# nginx-reload trigger), as every nginx module package does.
#
# Not a .t file: "make test" runs prove -r over t/.

set -euo pipefail

PKG=libnginx-mod-http-twanon
SO=/usr/lib/nginx/modules/ngx_http_twanon_module.so
AVAILABLE=/usr/share/nginx/modules-available/mod-http-twanon.conf
ENABLED=/etc/nginx/modules-enabled/50-mod-http-twanon.conf
HTML=/usr/share/twanon/html
DOC=/usr/share/doc/$PKG
NGINX_BIN=${NGINX_BIN:-/usr/sbin/nginx}
ABI_FILE=/usr/share/nginx/src/debian/libnginx-mod.abisubstvars

if [ $# -ne 1 ] || [ ! -f "$1" ]; then
    echo "usage: $0 PACKAGE.deb" >&2; exit 2
fi
DEB=$(readlink -f "$1")
[ "$(id -u)" -eq 0 ] || { echo "$0: needs root (apt-get)" >&2; exit 2; }

failures=0
checks=0
ok()   { checks=$((checks + 1)); echo "ok $checks - $*"; }
fail() { checks=$((checks + 1)); failures=$((failures + 1));
         echo "not ok $checks - $*"; }
check() {   # check DESCRIPTION COMMAND...
    local what=$1; shift
    if "$@"; then ok "$what"; else fail "$what"; fi
}
bail() { fail "$*"; exit 1; }

installed() {
    dpkg-query -W -f='${Status}' "$PKG" 2>/dev/null \
        | grep -q 'install ok installed'
}
state() { dpkg-query -W -f='${db:Status-Abbrev}' "$PKG" 2>/dev/null \
              | tr -d ' ' || true; }
purged() { local s; s=$(state); [ -z "$s" ] || [ "$s" = un ]; }

apt() { DEBIAN_FRONTEND=noninteractive apt-get -q -y "$@"; }

if installed; then
    echo "$0: $PKG is already installed; \"apt-get purge $PKG\" first," \
         "so that the test does not remove a package in use" >&2
    exit 2
fi

T=$(mktemp -d /tmp/twanon-deb-XXXXXXXX)
chmod 755 "$T"
test_nginx_running=no

cleanup() {
    local rc=$?
    if [ "$test_nginx_running" = yes ] && [ -s "$T/nginx.pid" ]; then
        kill -QUIT "$(cat "$T/nginx.pid")" 2>/dev/null || true
        sleep 1
    fi
    # leave the system as it was: no package, no config, no symlink
    if ! purged; then
        echo "# cleaning up: purging $PKG"
        apt remove --purge "$PKG" >/dev/null 2>&1 || true
    fi
    if [ $rc -ne 0 ] || [ $failures -ne 0 ] || [ -n "${TWANON_DEB_KEEP:-}" ]
    then
        echo "# left for inspection: $T"
        if [ $rc -ne 0 ] || [ $failures -ne 0 ]; then
            [ -f "$T/error.log" ] && sed 's/^/# error.log: /' "$T/error.log" | tail -20
        fi
    else
        rm -rf "$T"
    fi
    if [ $failures -ne 0 ]; then
        echo "FAIL: $failures of $checks checks failed"
        exit 1
    fi
    [ $rc -eq 0 ] && echo "PASS: $checks checks"
    exit $rc
}
trap cleanup EXIT

free_port() {
    perl -MIO::Socket::INET -e \
        'print IO::Socket::INET->new(Listen => 1, LocalAddr => "127.0.0.1",
                                     LocalPort => 0, ReuseAddr => 1)
               ->sockport, "\n"'
}


if [ -s /run/nginx.pid ] && kill -0 "$(cat /run/nginx.pid)" 2>/dev/null; then
    echo "# the system nginx is running: installing and removing the" \
         "package make Debian's nginx-reload trigger reload it gracefully"
fi

echo "# installing $DEB"
apt install --no-install-recommends "$DEB" > "$T/install.log" 2>&1 \
    || { cat "$T/install.log"; bail "apt-get install $DEB"; }
check "package installed" installed


# --- files --------------------------------------------------------------

check "module in /usr/lib/nginx/modules" test -f "$SO"
check "load snippet in modules-available" test -f "$AVAILABLE"
check "snippet loads the module" \
    grep -qx 'load_module modules/ngx_http_twanon_module.so;' "$AVAILABLE"
check "modules-enabled symlink" test -L "$ENABLED"
check "symlink points to the snippet" \
    test "$(readlink "$ENABLED")" = "$AVAILABLE"

for f in index.html app.js style.css vendor/twilio.min.js; do
    check "console $f" test -s "$HTML/$f"
done
check "console config.json links to /etc/twanon/config.json" \
    test "$(readlink "$HTML/config.json")" = /etc/twanon/config.json
check "/etc/twanon/config.json is a conffile" \
    grep -qx ' */etc/twanon/config.json [0-9a-f]*' \
        <(dpkg-query -W -f='${Conffiles}\n' "$PKG")
check "no npm files or tests in the console" \
    test -z "$(find /usr/share/twanon \( -name node_modules -o \
        -name 'package*.json' -o -name '*.test.js' -o -name .gitignore \) \
        -print)"

for f in copyright changelog.Debian.gz README.Debian directives.md.gz \
         examples/twanon.conf examples/twanon-call.pl \
         examples/debian/conf.d/twanon.conf \
         examples/debian/sites-available/twanon; do
    check "doc $f" test -s "$DOC/$f"
done

depends=$(dpkg-query -W -f='${Depends}' "$PKG")
abi=$(sed -n 's/^nginx:abi=//p' "$ABI_FILE")
check "depends on the nginx ABI ($abi)" \
    grep -qw -- "$abi" <<< "$depends"
for lib in libxml2 libc6; do
    check "depends on $lib (shlibs)" grep -qw -- "$lib" <<< "$depends"
done
check "the module links libxml2" bash -c "ldd '$SO' | grep -q libxml2"
check "the module does not link jansson" \
    bash -c "! ldd '$SO' | grep -q libjansson"

# the system's own configuration, which includes modules-enabled/*.conf
if [ -f /etc/nginx/nginx.conf ]; then
    check "nginx -t of /etc/nginx/nginx.conf with the module enabled" \
        "$NGINX_BIN" -t -q -c /etc/nginx/nginx.conf
fi


# --- the Debian drop-in, in a copy of /etc/nginx -------------------------
#
# examples/debian/conf.d/twanon.conf and sites-available/twanon as an
# administrator installs them, in a copy of the system's /etc/nginx (its
# nginx.conf, modules-enabled with the package's snippet, the default
# site), with only the paths moved under $T: nginx -t must pass.

drop_in_check() {
    local etc=$T/drop-in/etc/nginx d
    mkdir -p "$T/drop-in/etc" "$T/drop-in/log"
    ln -s /usr/lib/nginx/modules "$T/drop-in/modules"
    cp -a /etc/nginx "$etc"
    cp "$DOC/examples/debian/conf.d/twanon.conf" "$etc/conf.d/twanon.conf"
    cp "$DOC/examples/debian/sites-available/twanon" \
        "$etc/sites-available/twanon"
    ln -sf ../sites-available/twanon "$etc/sites-enabled/twanon"
    for d in "$etc/nginx.conf" "$etc/conf.d/twanon.conf" \
             "$etc/sites-available/twanon"; do
        sed -i -e "s#/etc/nginx/twilio/#$T/twilio/#g" \
               -e "s#/etc/nginx/tls/#$T/tls/#g" \
               -e "s#/etc/nginx/#$etc/#g" \
               -e "s#/var/log/nginx/#$T/drop-in/log/#g" \
               -e "s#^pid .*#pid $T/drop-in/nginx.pid;#" "$d"
    done
    grep -q "^include $etc/modules-enabled/" "$etc/nginx.conf" \
        || { echo "# Debian's nginx.conf changed: no modules-enabled include"; \
             return 1; }
    "$NGINX_BIN" -t -q -p "$T/drop-in/" -c "$etc/nginx.conf" -e stderr
}


# --- the packaged example, on loopback ports ----------------------------
#
# examples/twanon.conf as shipped, with only what ties it to one machine
# replaced: the module comes from the modules-enabled snippet instead of
# its load_module line, paths go under $T, "listen 443 ssl" becomes a
# loopback port, the single sign-on upstream is a stub in the same nginx
# that answers X-Operator: op_7, and the resolver upstream is a closed
# port, so that /incoming takes the fallback.

PORT=$(free_port)
SSO_PORT=$(free_port)
DEAD_PORT=$(free_port)
while [ "$SSO_PORT" = "$PORT" ]; do SSO_PORT=$(free_port); done
while [ "$DEAD_PORT" = "$PORT" ] || [ "$DEAD_PORT" = "$SSO_PORT" ]; do
    DEAD_PORT=$(free_port)
done

API_SECRET=test-api-secret-$RANDOM$RANDOM
AUTH_TOKEN=test-auth-token-$RANDOM$RANDOM
mkdir -p "$T/twilio" "$T/tls" "$T/tmp"
# the snippet's "load_module modules/..." is relative to the prefix, which
# is /usr/share/nginx for the system's nginx, with this same symlink
ln -s /usr/lib/nginx/modules "$T/modules"
printf '%s\n' "$API_SECRET" > "$T/twilio/api_secret"
printf '%s\n' "$AUTH_TOKEN" > "$T/twilio/auth_token"
printf '%s\n' '<?xml version="1.0" encoding="UTF-8"?>' \
    '<Response><Say>Please leave a message.</Say><Record/></Response>' \
    > "$T/twilio/voicemail.xml"
chmod 600 "$T/twilio/api_secret" "$T/twilio/auth_token"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -subj /CN=ops.example.com -days 2 \
    -keyout "$T/tls/ops.example.com.key" \
    -out "$T/tls/ops.example.com.crt" 2>/dev/null \
    || bail "openssl: self-signed certificate"

cat > "$T/test-http.conf" <<EOF
    client_body_temp_path  $T/tmp/body;
    proxy_temp_path        $T/tmp/proxy;
    fastcgi_temp_path      $T/tmp/fastcgi;
    uwsgi_temp_path        $T/tmp/uwsgi;
    scgi_temp_path         $T/tmp/scgi;

    # the single sign-on stub: everyone is operator op_7
    server {
        listen       127.0.0.1:$SSO_PORT;
        access_log   off;

        location = /check {
            add_header  X-Operator  op_7;
            return      200;
        }
    }
EOF

check "nginx -t of the Debian drop-in in a copy of /etc/nginx" drop_in_check

example=$DOC/examples/twanon.conf
grep -q '^load_module modules/ngx_http_twanon_module.so;' "$example" \
    || bail "examples/twanon.conf has no load_module line to replace"
sed -e 's#^load_module modules/ngx_http_twanon_module.so;#include  /etc/nginx/modules-enabled/*.conf;#' \
    -e '/^user /d' \
    -e 's#^worker_processes .*#worker_processes  1;#' \
    -e "s#^error_log .*#error_log  $T/error.log  info;#" \
    -e "s#^pid .*#pid        $T/nginx.pid;#" \
    -e "s#^http {#&\\n    include  $T/test-http.conf;#" \
    -e "s#/var/log/nginx/access.log#$T/access.log#" \
    -e "s#/etc/nginx/twilio/#$T/twilio/#g" \
    -e "s#/etc/nginx/tls/#$T/tls/#g" \
    -e "s#listen  *443 ssl;#listen       127.0.0.1:$PORT ssl;#" \
    -e "s#server  *127.0.0.1:9000;#server  127.0.0.1:$SSO_PORT;#" \
    -e "s#server  *10\\.0\\.0\\.2[12]:8080;#server  127.0.0.1:$DEAD_PORT;#" \
    "$example" > "$T/nginx.conf"

for pattern in '/var/log/nginx' '/run/nginx.pid' '/etc/nginx/twilio' \
               '10\.0\.0\.' ':9000' 'listen *443' '^load_module'; do
    grep -q -- "$pattern" "$T/nginx.conf" \
        && bail "test config still has $pattern: the example changed?"
done

check "nginx -t of the packaged example through modules-enabled" \
    "$NGINX_BIN" -t -q -p "$T/" -c "$T/nginx.conf" -e stderr

"$NGINX_BIN" -p "$T/" -c "$T/nginx.conf" -e stderr \
    || bail "nginx with the packaged example would not start"
test_nginx_running=yes
for _ in $(seq 50); do
    [ -s "$T/nginx.pid" ] && break
    sleep 0.1
done
[ -s "$T/nginx.pid" ] || bail "nginx wrote no pid file"
ok "nginx started on 127.0.0.1:$PORT"

BASE=https://127.0.0.1:$PORT
get() { curl -sS -k --max-time 10 "$@"; }

# the console, through auth_request
code=$(get -o "$T/index.html" -w '%{http_code}' "$BASE/" || true)
check "GET / serves the console (HTTP $code)" \
    bash -c "[ '$code' = 200 ] && cmp -s '$T/index.html' '$HTML/index.html'"
code=$(get -o "$T/sdk.js" -w '%{http_code}' "$BASE/vendor/twilio.min.js" \
       || true)
check "GET /vendor/twilio.min.js (HTTP $code)" \
    bash -c "[ '$code' = 200 ] && cmp -s '$T/sdk.js' '$HTML/vendor/twilio.min.js'"
code=$(get -o "$T/config.json" -D "$T/config.head" -w '%{http_code}' \
       "$BASE/config.json" || true)
check "GET /config.json through the /etc symlink (HTTP $code)" \
    bash -c "[ '$code' = 200 ] && cmp -s '$T/config.json' /etc/twanon/config.json"
check "config.json is sent with Cache-Control: no-store" \
    grep -qix 'cache-control: no-store.' "$T/config.head"
get -o /dev/null -D "$T/index.head" "$BASE/" || true
check "the console is sent with the example's Content-Security-Policy" \
    grep -qi "^content-security-policy: default-src 'self'; script-src 'self';" \
        "$T/index.head"

# /token: a JWT for op_7, signed with the API secret
code=$(get -o "$T/token.json" -w '%{http_code}' "$BASE/token" || true)
check "GET /token answers 200 (HTTP $code)" test "$code" = 200
jwt_check=$(perl -MJSON::PP -MMIME::Base64 -MDigest::SHA=hmac_sha256 -e '
    my ($file, $secret) = @ARGV;
    local $/;
    open my $fh, "<", $file or die "$file: $!\n";
    my $reply = decode_json(<$fh>);
    my $jwt = $reply->{token} // die "no token member\n";
    $jwt =~ /^([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)$/
        or die "not three base64url parts: $jwt\n";
    my ($h, $p, $s) = ($1, $2, $3);
    my $b64u = sub { my $x = shift; $x =~ tr{-_}{+/};
                     $x .= "=" while length($x) % 4; decode_base64($x) };
    my $head = decode_json($b64u->($h));
    my $body = decode_json($b64u->($p));
    $head->{alg} eq "HS256" && $head->{typ} eq "JWT"
        or die "header is not HS256 JWT\n";
    my $mac = encode_base64(hmac_sha256("$h.$p", $secret), "");
    $mac =~ tr{+/}{-_}; $mac =~ s/=+$//;
    $mac eq $s or die "signature does not match the API secret\n";
    $body->{grants}{identity} eq "op_7" or die "identity is not op_7\n";
    $reply->{identity} eq "op_7" or die "reply identity is not op_7\n";
    $body->{grants}{voice}{incoming}{allow} or die "no voice grant\n";
    $body->{iss} eq "SK00000000000000000000000000000000"
        && $body->{sub} eq "AC00000000000000000000000000000000"
        or die "iss/sub are not the example SIDs\n";
    $body->{exp} - $body->{iat} == 1800 or die "ttl is not 30m\n";
    print "ok\n";
' "$T/token.json" "$API_SECRET" 2>&1) || true
check "the token is a JWT (HS256, signed with the API secret, op_7): $jwt_check" \
    test "$jwt_check" = ok

# /incoming: a signed webhook from the packaged twanon-call.pl, signed for
# the example's twanon_webhook_url; the resolver is down, so the example's
# fallback operators are rung.  The test's certificate is self-signed:
# --insecure, which the script's help says is for such tests only
SIGNED_URL=https://ops.example.com/incoming
perl "$DOC/examples/twanon-call.pl" --url "$BASE/incoming" --insecure \
    --signed-url "$SIGNED_URL" --account AC00000000000000000000000000000000 \
    --token "$AUTH_TOKEN" --from +15550123 > "$T/twiml.txt" 2>&1 || true
check "signed webhook to /incoming answers 200" \
    grep -q '^HTTP 200' "$T/twiml.txt"
check "the TwiML rings the fallback op_1 and op_2, not the number" \
    bash -c "grep -q '<Identity>op_1</Identity>' '$T/twiml.txt' &&
             grep -q '<Identity>op_2</Identity>' '$T/twiml.txt' &&
             ! grep -q '15550123' '$T/twiml.txt'"
perl "$DOC/examples/twanon-call.pl" --url "$BASE/incoming" --insecure \
    --signed-url "$SIGNED_URL" --account AC00000000000000000000000000000000 \
    --token wrong-token --from +15550123 > "$T/forged.txt" 2>&1 || true
sed -n 's/^<Response>/# TwiML: &/p' "$T/twiml.txt"
check "a webhook signed with another token gets 403" \
    grep -q '^HTTP 403' "$T/forged.txt"

kill -QUIT "$(cat "$T/nginx.pid")"
for _ in $(seq 50); do
    [ -e "$T/nginx.pid" ] || break
    sleep 0.1
done
check "nginx stopped" test ! -e "$T/nginx.pid"
test_nginx_running=no


# --- remove, then purge -------------------------------------------------

apt remove "$PKG" > "$T/remove.log" 2>&1 \
    || { cat "$T/remove.log"; bail "apt-get remove $PKG"; }
check "removed: module gone" test ! -e "$SO"
check "removed: snippet gone" test ! -e "$AVAILABLE"
check "removed: symlink set aside as .removed (dh_nginx prerm)" \
    bash -c "[ ! -e '$ENABLED' ] && [ ! -L '$ENABLED' ] && [ -L '$ENABLED.removed' ]"
check "removed: console gone" test ! -e "$HTML"
check "removed: conffile kept" test -f /etc/twanon/config.json
if [ -f /etc/nginx/nginx.conf ]; then
    check "nginx -t of /etc/nginx/nginx.conf after removal" \
        "$NGINX_BIN" -t -q -c /etc/nginx/nginx.conf
fi

apt remove --purge "$PKG" > "$T/purge.log" 2>&1 \
    || { cat "$T/purge.log"; bail "apt-get remove --purge $PKG"; }
check "purged: package unknown to dpkg" purged
check "purged: no symlink, no .removed link" \
    bash -c "[ ! -L '$ENABLED' ] && [ ! -L '$ENABLED.removed' ]"
check "purged: /etc/twanon gone" test ! -e /etc/twanon
check "purged: docs gone" test ! -e "$DOC"
check "purged: nothing left in /usr/share/twanon" test ! -e /usr/share/twanon
