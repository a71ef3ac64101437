#!/bin/bash
# Independent iterations on Apache Kafka ($KAFKA_BOOTSTRAP; skipped without):
# `jungbench run` creates Jung's topics itself and starts every iteration's
# consumer groups at the end of their topics, so tasks an earlier iteration
# left undelivered never reach a later one. The leftovers are made here:
# COMMAND tasks for a device no iteration registers are put on
# device_gateway_tasks behind the device gateway group's committed offset. A second
# run of two iterations must consume none of them (the device gateway would
# log "has no device 'jbleftover-...'"), skip at least as many, and its
# second iteration must be ready within 1.5x of its first.
# (kafka_put first commits the topic's end for group gw-1, as the device
# gateway of an earlier iteration that had read everything would have.)
. "$(dirname "$0")/lib.sh"
bs=${KAFKA_BOOTSTRAP:-}
if [ -z "$bs" ]; then echo "SKIP: KAFKA_BOOTSTRAP is not set (scripts/kafka start)"; exit 77; fi
if ! (exec 3<>"/dev/tcp/${bs%:*}/${bs##*:}") 2>/dev/null; then
    echo "SKIP: no Kafka at $bs"; exit 77
fi
PUT=${KAFKA_PUT:?KAFKA_PUT must name the kafka_put helper}
# A fixed topic prefix (broker.topic_prefix; runs otherwise get a random one,
# which no earlier run shares), so the leftovers can be planted on this run's
# own topic before it starts.
P=jbit$$.
sed -e "s/^broker: embedded/broker: {bootstrap: '$bs', topic_prefix: '$P'}/" "$SRC/tests/run/tiny.yaml" > "$TMP/two.yaml"
task='{"v":1,"id":"00000000-0000-4000-8000-00000000000@","type":"COMMAND","payload":{"device_id":"jbleftover-d@","value":1,"gateway":"gw-1"}}'
# The first message creates the topic (Kafka auto-creates it) and lies
# before the committed offset, so no gateway reads it.
"$PUT" "$bs" "${P}device_gateway_tasks" '{}' || fail "cannot create ${P}device_gateway_tasks"
"$PUT" "$bs" "${P}device_gateway_tasks" "${task//@/1}" 1 "${P}gw-1" || fail "cannot put a leftover task"
for n in 2 3 4 5; do
    "$PUT" "$bs" "${P}device_gateway_tasks" "${task//@/$n}" || fail "cannot put a leftover task"
done
"$JB" run "$TMP/two.yaml" --out "$TMP/b" > "$TMP/b.out" 2>&1
check "run exit status" "$?" 0
db=$(ls "$TMP"/b/*/results.db 2>/dev/null | head -1)
logs=$(dirname "$db")/logs
check "iterations done" "$(q "$db" "select count(*) from iterations where status='done'")" 2
check "leftover tasks consumed" "$(cat "$logs"/native-*/*.log | grep -c jbleftover)" 0
check "tasks of another iteration consumed in iteration 2" \
    "$(grep -c "has no device" "$logs"/native-2/device_gateway-1.log)" 0
skipped=$(sed -n 's/.*native#1: \([0-9]*\) task(s) earlier iterations left undelivered are skipped/\1/p' "$TMP/b.out")
[ "${skipped:-0}" -ge 5 ] || fail "iteration 1 skipped ${skipped:-0} leftover task(s), want >= 5"
read -r r1 r2 <<< "$(q "$db" "select group_concat(m, ' ') from (select max(ready_ms) m from boot_times group by iteration order by iteration)")"
echo "slowest ready: iteration 1 ${r1} ms, iteration 2 ${r2} ms"
awk -v a="$r1" -v b="$r2" 'BEGIN { exit !(a > 0 && b <= 1.5 * a) }' ||
    fail "iteration 2's slowest ready ${r2} ms is over 1.5x iteration 1's ${r1} ms"
[ "$FAILS" = 0 ] || cat "$TMP/b.out" >&2
finish
