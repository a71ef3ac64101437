#!/bin/bash
# A broker whose metadata names an address this host cannot reach: the
# bootstrap connection works, then every fetch would wait on a connection
# that never comes (before: `rd_kafka_query_watermark_offsets` for 10 s,
# then "listening" and nothing received, deaf to SIGTERM). The runner and
# `jungbench run` must fail at once naming the advertised address, or within
# the probe timeout (5 s) when the address drops packets, and a SIGTERM
# during that wait must end them.
# Simulated in a network namespace the test creates and removes: the broker
# listens on the namespace's 127.0.0.1:PORT and advertises it; clients
# bootstrap through 127.0.0.3:PORT (DNAT to the broker), and packets sent to
# 127.0.0.1:PORT itself are rejected, then dropped. Skips (77) without root,
# `ip netns` or iptables.
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || { echo "SKIP: network namespaces need root"; exit 77; }
command -v ip > /dev/null || { echo "SKIP: no 'ip' command (iproute2)"; exit 77; }
command -v iptables > /dev/null || { echo "SKIP: no iptables"; exit 77; }
NS=jbbu-$$
PORT=$((29000 + $$ % 900))
ip netns add "$NS" 2> "$TMP/netns.err" ||
    { echo "SKIP: cannot create a network namespace: $(cat "$TMP/netns.err")"; exit 77; }
cleanup_ns() { kill_tagged; ip netns del "$NS" 2> /dev/null; rm -rf "$TMP"; }
trap cleanup_ns EXIT
in_ns() { ip netns exec "$NS" "$@"; }
in_ns ip link set lo up
in_ns iptables -t nat -A OUTPUT -p tcp -d 127.0.0.3 --dport "$PORT" \
    -j DNAT --to-destination "127.0.0.1:$PORT" 2> "$TMP/ipt.err" ||
    { echo "SKIP: iptables cannot DNAT in a namespace: $(cat "$TMP/ipt.err")"; exit 77; }
# block TARGET: packets meant for the advertised address itself get TARGET
block() {
    in_ns iptables -F OUTPUT
    in_ns iptables -A OUTPUT -p tcp -d 127.0.0.1 --dport "$PORT" \
        -m conntrack --ctorigdst 127.0.0.1 -j "$@"
}
in_ns "$JB" broker --port "$PORT" > "$TMP/broker.out" 2> "$TMP/broker.err" &
wait_line "$TMP/broker.out" 20 '^bootstrap=' || { fail "broker did not start: $(cat "$TMP/broker.err")"; finish; }
WANT="broker 1 advertises 127.0.0.1:$PORT, which this host cannot reach"

# expect_fast NAME LIMIT_S WHY CMD...: exits non-zero within LIMIT_S naming the address
expect_fast() {
    local name=$1 limit=$2 why=$3
    shift 3
    local t0=$SECONDS
    in_ns timeout 60 "$@" > "$TMP/$name.out" 2>&1
    local rc=$? took=$((SECONDS - t0))
    [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || fail "$name: exit $rc (want a failure, not 0 or a hang)"
    [ "$took" -le "$limit" ] || fail "$name: took ${took}s, limit ${limit}s"
    grep -q "$WANT ($why" "$TMP/$name.out" || { fail "$name: no '$WANT ($why'"; tail -5 "$TMP/$name.out" >&2; }
}
cat > "$TMP/run.yaml" <<YAML
name: unreachable-broker
broker: {bootstrap: 127.0.0.3:$PORT}
platforms:
  - name: native
    driver: process
YAML

block REJECT --reject-with tcp-reset
expect_fast runner-refused 3 "Connection refused" "$JB" runner --broker "127.0.0.3:$PORT" --id t
expect_fast run-refused 3 "Connection refused" "$JB" run "$TMP/run.yaml" --out "$TMP/res"

block DROP
expect_fast runner-dropped 12 "no answer" "$JB" runner --broker "127.0.0.3:$PORT" --id t

# SIGTERM while the probe waits on the dropped address
in_ns "$JB" runner --broker "127.0.0.3:$PORT" --id t > "$TMP/term.out" 2>&1 &
pid=$!
for _ in $(seq 1 100); do # the probe's SYN to the advertised address, unanswered
    [ -n "$(in_ns ss -Htn state syn-sent dst "127.0.0.1:$PORT")" ] && break
    [ -d "/proc/$pid" ] || break
    sleep 0.05
done
[ -n "$(in_ns ss -Htn state syn-sent dst "127.0.0.1:$PORT")" ] ||
    fail "the runner's probe of the advertised address was never seen waiting"
kill -TERM "$pid" 2> /dev/null
t0=$SECONDS
wait "$pid"
rc=$?
check "runner exits on SIGTERM during the probe (status)" "$([ $rc -ne 0 ] && echo failed)" failed
[ $((SECONDS - t0)) -le 2 ] || fail "SIGTERM took $((SECONDS - t0)) s to end the runner"
finish
