#!/usr/bin/env bash
# gateway-http.sh - the API gateway's HTTP layer against an in-memory bus
# (jung-api-gateway-fakebus, see fake_bus.c): routes, authentication,
# validation, error codes and bodies, body limits, malformed requests that
# must neither crash nor wedge it, strict HTTP over raw sockets (one status
# line per refused request), and the login throttle with its defaults and,
# on a second gateway, the end of its window. Then SIGTERM must end it with 0.
#
# Usage: gateway-http.sh PATH/TO/jung-api-gateway-fakebus
set -u
exe=$1
command -v curl >/dev/null || { echo "SKIP: curl is not installed"; exit 77; }
out=$(mktemp)
"$exe" --port 0 --max-body 1024 >"$out" 2>&1 &
pid=$!
trap 'kill -KILL $pid 2>/dev/null; rm -f "$out"' EXIT
url=
for _ in $(seq 1 100); do
    url=$(sed -n 's/.*ready instance=.* http=\(http:[^ ]*\).*/\1/p' "$out")
    [ -n "$url" ] && break
    sleep 0.1
done
[ -n "$url" ] || { echo "FAIL: no readiness line with http=URL:"; cat "$out"; exit 1; }
echo "gateway at $url"

fails=0
# check WANT_STATUS BODY_REGEX CURL_ARGS...
check() {
    local want=$1 re=$2
    shift 2
    local got body args="$*"
    body=$(curl -s -o - -w '\n%{http_code}' --max-time 10 "$@")
    got=${body##*$'\n'}
    body=${body%$'\n'*}
    if [ "$got" != "$want" ] || ! grep -Eq -- "$re" <<<"$body"; then
        echo "FAIL: curl ${args:0:200} -> $got $body (want $want matching /$re/)"
        fails=$((fails + 1))
    else
        echo "ok: $want ${args:0:160} -> ${body:0:160}"
    fi
}
J='Content-Type: application/json'
A=(-u alice:pw)
L=$url/users/alice/devices/lamp

check 201 '"username":"carol"' -H "$J" -d '{"username":"carol","password":"x"}' "$url/users"
check 409 '"error":' -H "$J" -d '{"username":"alice","password":"x"}' "$url/users"
check 400 '"error":".*username' -H "$J" -d '{"username":"a/b","password":"x"}' "$url/users"
check 400 '"error":".*password' -H "$J" -d '{"username":"dave"}' "$url/users"
check 400 '"error":"malformed JSON' -H "$J" -d '{"username":' "$url/users"
check 400 '"error":".*JSON object' -H "$J" -d '"alice"' "$url/users"
check 400 '"error":".*empty' -X POST "$url/users"
check 200 '^\{"username":"alice","devices":\["lamp"\]\}$' "${A[@]}" "$url/users/alice"
check 401 '"error":' "$url/users/alice"
check 401 '"error":' -u alice:wrong "$url/users/alice"
check 403 '"error":' -u bob:pw2 "$url/users/alice"
check 403 '"error":' -u bob:pw2 "$L"
check 404 '"error":' "${A[@]}" "$url/users/alice/devices/ghost"
check 200 '"owner":"alice"' "${A[@]}" "$L"
check 201 '"id":"00000000' "${A[@]}" -H "$J" -d '{}' "$url/users/alice/devices"
check 201 '"gateway":"gw-7"' "${A[@]}" -H "$J" -d '{"id":"fan","gateway":"gw-7"}' \
    "$url/users/alice/devices"
check 409 '"error":' "${A[@]}" -H "$J" -d '{"id":"lamp"}' "$url/users/alice/devices"
check 400 '"error":".*id' "${A[@]}" -H "$J" -d '{"id":5}' "$url/users/alice/devices"
check 200 '"page":2,"size":5' "${A[@]}" "$L/readings?page=2&size=5"
check 200 '"size":10' "${A[@]}" "$L/readings"
check 400 '"error":".*page' "${A[@]}" "$L/readings?page=x"
check 400 '"error":".*size' "${A[@]}" "$L/readings?size=100000"
check 202 '"value":7' "${A[@]}" -H "$J" -d '{"value":7}' "$L/commands"
check 400 '"error":".*value' "${A[@]}" -H "$J" -d '{"value":"on"}' "$L/commands"
check 400 '"error":"malformed JSON' "${A[@]}" -H "$J" -d '{"value":1,"value":2}' "$L/commands"
check 201 '"id":"rule-1"' "${A[@]}" -H "$J" \
    -d '{"operator":">","value":3,"command":{"value":0}}' "$L/rules"
check 400 '"error":".*operator' "${A[@]}" -H "$J" \
    -d '{"operator":">=","value":3,"command":{"value":0}}' "$L/rules"
check 400 '"error":".*command' "${A[@]}" -H "$J" -d '{"operator":"<","value":3}' "$L/rules"
check 200 '"rules":\[\]' "${A[@]}" "$L/rules"
check 404 '"error":' "$url/"
check 404 '"error":' "$url/users/alice/"
check 404 '"error":' "$url/users/alice/devices/lamp/other"
check 404 '"error":' "$url/users/alice/devices/lamp/readings/x"
check 404 '"error":' "$url/nope"
check 405 '"error":' -X DELETE "${A[@]}" "$url/users/alice"
check 405 '"error":' "$url/users"
check 405 '"error":' -X PUT "${A[@]}" "$L/commands"
# 413: declared too large (refused before reading), and chunked too large
big=$(head -c 4000 /dev/zero | tr '\0' ' ')
check 413 '"error":' -H "$J" -d "{$big}" "$url/users"
check 413 '"error":' -H "$J" -H 'Transfer-Encoding: chunked' -d "{$big}" "$url/users"
# Allow and WWW-Authenticate headers
curl -s -D - -o /dev/null -X DELETE "$url/users/alice" | grep -qi '^Allow: GET' ||
    { echo "FAIL: 405 without Allow header"; fails=$((fails + 1)); }
curl -s -D - -o /dev/null "$url/users/alice" | grep -qi '^WWW-Authenticate: Basic' ||
    { echo "FAIL: 401 without WWW-Authenticate"; fails=$((fails + 1)); }
# Credentials the gateway must refuse whole, as 401 with WWW-Authenticate:
# a NUL byte (libmicrohttpd's parser read "pw\0junk" as "pw"), invalid
# UTF-8, an empty or over-long user or password, no colon, no base64.
basic() { printf 'Authorization: Basic %s' "$(printf "$1" | base64 -w0)"; }
long=$(head -c 300 /dev/zero | tr '\0' p)
for cred in 'alice:pw\0junk' 'alice\0:pw' 'alice:p\xffw' ':pw' 'alice:' "alice:$long" 'alicepw'; do
    check 401 '"error":"(malformed|missing) credentials' -H "$(basic "$cred")" "$url/users/alice"
    curl -s -D - -o /dev/null -H "$(basic "$cred")" "$url/users/alice" | grep -qi '^WWW-Authenticate: Basic realm="jung"' ||
        { echo "FAIL: 401 for '$cred' without WWW-Authenticate"; fails=$((fails + 1)); }
done
check 401 '"error":"malformed credentials' -H 'Authorization: Basic !!!' "$url/users/alice"
check 200 '"username":"alice"' -H "$(basic 'alice:pw')" "$url/users/alice"

# Strict HTTP, over raw sockets so that libmicrohttpd's own answers count:
# exactly one status line with the wanted code, then the connection ends.
# rawcheck WANT_STATUS NAME REQUEST
port=${url##*:}
rawcheck() {
    local want=$1 name=$2 got lines codes
    exec 5<>"/dev/tcp/127.0.0.1/$port"
    # The gateway may answer and close before the whole request is written:
    # a write error, not a SIGPIPE that ends this script.
    (trap '' PIPE; printf '%s' "$3" >&5) 2>/dev/null
    got=$(timeout 5 cat <&5 | tr -d '\r')
    exec 5>&-
    # anywhere on a line: a second response may follow a body without a newline
    codes=$(grep -oE 'HTTP/1\.[01] [0-9]{3} ' <<<"$got" | cut -d' ' -f2 | tr '\n' ' ')
    lines=$(grep -oE 'HTTP/1\.[01] [0-9]{3} ' <<<"$got" | wc -l)
    if [ "$lines" != 1 ] || [ "$codes" != "$want " ] || ! grep -q '"error":' <<<"$got"; then
        echo "FAIL: $name -> $lines status line(s), codes '$codes' (want one $want):"
        head -c 400 <<<"$got"
        echo
        fails=$((fails + 1))
    else
        echo "ok: $want $name -> $(tail -1 <<<"$got" | head -c 120)"
    fi
}
AUTH=$(basic 'alice:pw')
R=/users/alice/devices/lamp/readings
U=$'\r\n'
many=$(seq -s '&' -f 'a%g=1' 1 2000)
rawcheck 400 '?size=10%00' "GET $R?size=10%00 HTTP/1.1${U}Host: x$U$AUTH$U$U"
rawcheck 400 '?si%00ze=10' "GET $R?si%00ze=10 HTTP/1.1${U}Host: x$U$AUTH$U$U"
rawcheck 400 '/users/bob%00/...' \
    "GET /users/bob%00/devices/lamp/readings HTTP/1.1${U}Host: x$U$AUTH$U$U"
rawcheck 400 '/users/alice%00/...' \
    "GET /users/alice%00/devices/lamp/readings HTTP/1.1${U}Host: x$U$AUTH$U$U"
rawcheck 400 '2,000 query args' "GET $R?$many HTTP/1.1${U}Host: x$U$AUTH$U$U"
rawcheck 400 '33 query args' "GET $R?$(seq -s '&' -f 'a%g=1' 1 33) HTTP/1.1${U}Host: x$U$AUTH$U$U"
B='{"username":"zed","password":"x"}'
for cl in abc -1 +32 '32, 32' ''; do
    rawcheck 400 "Content-Length: '$cl'" "POST /users HTTP/1.1${U}Host: x${U}Content-Length: $cl$U$U$B"
done
rawcheck 413 'Content-Length: 10^23' \
    "POST /users HTTP/1.1${U}Host: x${U}Content-Length: 99999999999999999999999$U$U$B"
rawcheck 400 'Content-Length 32 and 33' \
    "POST /users HTTP/1.1${U}Host: x${U}Content-Length: 32${U}Content-Length: 33$U$U$B"
rawcheck 400 'Content-Length 32 twice' \
    "POST /users HTTP/1.1${U}Host: x${U}Content-Length: 32${U}Content-Length: 32$U$U$B"
rawcheck 400 'chunked and Content-Length' \
    "POST /users HTTP/1.1${U}Host: x${U}Transfer-Encoding: chunked${U}Content-Length: 5$U${U}0$U$U"
rawcheck 501 'Transfer-Encoding: gzip' "POST /users HTTP/1.1${U}Host: x${U}Transfer-Encoding: gzip$U$U$B"
rawcheck 501 'Transfer-Encoding: gzip, chunked' \
    "POST /users HTTP/1.1${U}Host: x${U}Transfer-Encoding: gzip, chunked$U${U}0$U$U"
# A refused request on a keep-alive connection after a good one: still one
# answer each, and the server keeps serving.
exec 5<>"/dev/tcp/127.0.0.1/$port"
(trap '' PIPE; printf '%s' "GET /users/alice HTTP/1.1${U}Host: x$U$AUTH$U${U}POST /users HTTP/1.1${U}Host: x${U}Content-Length: abc$U$U" >&5) 2>/dev/null
got=$(timeout 5 cat <&5 | grep -aoE 'HTTP/1\.[01] [0-9]{3} ' | cut -d' ' -f2 | tr '\n' ' ')
exec 5>&-
[ "$got" = "200 400 " ] || { echo "FAIL: keep-alive good then bad -> '$got' (want '200 400 ')"; fails=$((fails + 1)); }
check 200 '"size":10' "${A[@]}" "$L/readings?size=10&page=1"

# garbage on the socket, a half request left hanging, then a normal request
for junk in $'GARBAGE\r\n\r\n' $'GET /users/alice HTTP/1.1\r\nHost: x\r\nAuthorization: Basic !!!\r\n\r\n' \
    $'POST /users HTTP/1.1\r\nContent-Length: -5\r\n\r\n' $'\x00\x01\x02\xff\r\n\r\n'; do
    exec 3<>"/dev/tcp/127.0.0.1/$port"
    printf '%s' "$junk" >&3
    timeout 5 cat <&3 >/dev/null
    exec 3>&-
done
exec 4<>"/dev/tcp/127.0.0.1/$port"
printf 'POST /users HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n{"user' >&4
check 200 '"username":"alice"' "${A[@]}" "$url/users/alice"
exec 4>&-
kill -0 $pid 2>/dev/null || { echo "FAIL: the gateway died"; exit 1; }

# Failed logins throttled with the defaults (10 per user, 30 per client
# address in 60 s): bob's 11th try gets 429 with Retry-After, his right
# password too; alice, from the same client, still logs in until the
# client's 30th failure. Last, as it leaves 127.0.0.1 throttled.
code() { curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$@"; }
expect_code() { # WANT WHAT CURL_ARGS...
    local want=$1 what=$2 got
    shift 2
    got=$(code "$@")
    [ "$got" = "$want" ] || { echo "FAIL: $what -> $got (want $want)"; fails=$((fails + 1)); }
}
for i in $(seq 1 10); do expect_code 401 "bob:wrong #$i" -u bob:wrong "$url/users/bob"; done
expect_code 429 'bob:wrong #11' -u bob:wrong "$url/users/bob"
expect_code 429 'bob:pw2 while throttled' -u bob:pw2 "$url/users/bob"
curl -s -D - -o /dev/null -u bob:wrong "$url/users/bob" | grep -qiE '^Retry-After: [0-9]+' ||
    { echo "FAIL: 429 without Retry-After"; fails=$((fails + 1)); }
expect_code 200 'alice:pw after bob is throttled' "${A[@]}" "$url/users/alice"
# 1 (alice:wrong above) + 10 + 18 = 29 failures from this client
for i in $(seq 1 18); do expect_code 401 "nobody$i:x" -u "nobody$i:x" "$url/users/nobody$i"; done
expect_code 200 'alice:pw at 29 client failures' "${A[@]}" "$url/users/alice"
expect_code 401 'nobody20:x, the 30th failure' -u nobody20:x "$url/users/nobody20"
expect_code 429 'alice:pw after 30 client failures' "${A[@]}" "$url/users/alice"
echo "ok: login throttle per user and per client"

kill -TERM $pid
for _ in $(seq 1 100); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
if kill -0 $pid 2>/dev/null; then
    echo "FAIL: still running 10 s after SIGTERM"
    exit 1
fi
wait $pid
rc=$?
[ $rc -eq 0 ] || { echo "FAIL: exit status $rc after SIGTERM; its output:"; cat "$out"; fails=$((fails + 1)); }
# The window ends: a second gateway counting 2 failures per user over 3 s.
out2=$(mktemp)
"$exe" --port 0 --login-failures-per-user 2 --login-window-ms 3000 >"$out2" 2>&1 &
pid2=$!
trap 'kill -KILL $pid $pid2 2>/dev/null; rm -f "$out" "$out2"' EXIT
url2=
for _ in $(seq 1 100); do # waits for the readiness line
    url2=$(sed -n 's/.*ready instance=.* http=\(http:[^ ]*\).*/\1/p' "$out2")
    [ -n "$url2" ] && break
    sleep 0.1
done
[ -n "$url2" ] || { echo "FAIL: second gateway not ready:"; cat "$out2"; exit 1; }
start=$(date +%s%N)
expect_code 401 'bob:wrong #1' -u bob:wrong "$url2/users/bob"
expect_code 401 'bob:wrong #2' -u bob:wrong "$url2/users/bob"
expect_code 429 'bob:pw2 at the limit' -u bob:pw2 "$url2/users/bob"
got=
for _ in $(seq 1 100); do # waits for the window to close (polls the state)
    got=$(code -u bob:pw2 "$url2/users/bob/devices/bobcam")
    [ "$got" = 429 ] || break
    sleep 0.1
done
waited=$((($(date +%s%N) - start) / 1000000))
if [ "$got" != 200 ] || [ $waited -lt 2900 ]; then
    echo "FAIL: bob:pw2 after the window -> $got after $waited ms (want 200 after >= 3000 ms)"
    fails=$((fails + 1))
else
    echo "ok: throttled login allowed again after $waited ms"
fi
kill -TERM $pid2
wait $pid2
grep -q '1 login(s) answered 429\|[0-9]* login(s) answered 429' "$out2" ||
    { echo "FAIL: no 429 count in the log at exit:"; cat "$out2"; fails=$((fails + 1)); }
[ $fails -eq 0 ] || { echo "FAIL: $fails checks failed"; exit 1; }
echo PASS
