#!/bin/bash
# Controller and runner as separate processes over real Apache Kafka
# ($KAFKA_BOOTSTRAP, e.g. from `scripts/kafka start`); skipped when unset or
# unreachable. The services use the same Kafka (the runner's --broker).
. "$(dirname "$0")/lib.sh"
bs=${KAFKA_BOOTSTRAP:-}
if [ -z "$bs" ]; then echo "SKIP: KAFKA_BOOTSTRAP is not set (scripts/kafka start)"; exit 77; fi
if ! (exec 3<>"/dev/tcp/${bs%:*}/${bs##*:}") 2>/dev/null; then
    echo "SKIP: no Kafka at $bs"; exit 77
fi
sed -e 's/^iterations: 2/iterations: 1/' -e "s/^broker: embedded/broker: {bootstrap: '$bs'}/" \
    -e 's/^runner:/runner:\n  id: kafka-test/' "$SRC/tests/run/tiny.yaml" > "$TMP/kafka.yaml"
"$JB" runner --broker "$bs" --id kafka-test > "$TMP/runner.out" 2>&1 &
runner=$!
"$JB" controller "$TMP/kafka.yaml" --out "$TMP/a" -q > "$TMP/ctl.out" 2>&1
check "controller exit status" "$?" 0
db=$(ls "$TMP"/a/*/results.db 2>/dev/null | head -1)
check "iterations done" "$(q "$db" "select count(*) from iterations where status='done'")" 1
check "measured requests" "$(q "$db" "select count(*) from samples where phase='measure'")" 20
check "metric summaries" "$(q "$db" "select count(*) from metric_summaries")" 8
check "broker recorded" "$(q "$db" "select json_extract(environment, '$.broker') from runs")" "$bs"
kill -TERM "$runner"; wait "$runner"
check "runner exit status" "$?" 0
[ "$FAILS" = 0 ] || { cat "$TMP/ctl.out" "$TMP/runner.out" >&2; }
finish
