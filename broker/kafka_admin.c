/* kafka_admin.c - Jung's topics and consumer groups on a real cluster
 * (kafka_admin.h). */
#include "broker/kafka_admin.h"

#include "broker/broker.h"
#include "cli/cli.h"
#include "bus/bus.h"

#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ADMIN_WAIT_MS 30000

static bool apply_props(rd_kafka_conf_t *conf, const char *props, char *err, size_t errlen)
{
    char copy[4096];
    snprintf(copy, sizeof copy, "%s", props ? props : "");
    for (char *save, *kv = strtok_r(copy, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(kv, '=');
        if (!eq)
            continue;
        *eq = '\0';
        if (rd_kafka_conf_set(conf, kv, eq + 1, err, errlen) != RD_KAFKA_CONF_OK)
            return false;
    }
    return true;
}

/* A client of the cluster; group non-NULL makes it a consumer of that group
 * (which never subscribes: it only commits). */
static rd_kafka_t *client(const char *bootstrap, const char *props, const char *group, char *err,
                          size_t errlen)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, NULL);
    bool ok =
        rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, err, errlen) == RD_KAFKA_CONF_OK &&
        apply_props(conf, props, err, errlen);
    if (ok && group)
        ok = rd_kafka_conf_set(conf, "group.id", group, err, errlen) == RD_KAFKA_CONF_OK &&
             rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, errlen) ==
                 RD_KAFKA_CONF_OK &&
             /* As libjung's members: librdkafka's mock cluster makes the next
              * join after a group's last member left wait about this long. */
             rd_kafka_conf_set(conf, "session.timeout.ms", "6000", err, errlen) ==
                 RD_KAFKA_CONF_OK &&
             rd_kafka_conf_set(conf, "heartbeat.interval.ms", "2000", err, errlen) ==
                 RD_KAFKA_CONF_OK;
    rd_kafka_t *rk =
        ok ? rd_kafka_new(group ? RD_KAFKA_CONSUMER : RD_KAFKA_PRODUCER, conf, err, errlen) : NULL;
    if (!rk)
        rd_kafka_conf_destroy(conf);
    return rk;
}

/* ---- topics ------------------------------------------------------------------ */

/* Jung's topics as a run sees them: the services' with prefix before them,
 * the controller's and runners' (shared by every run, addressed by run and
 * runner id) as they are. NULL-terminated; points into store. */
typedef struct topic_names {
    char store[64][160];
    const char *list[65];
} topic_names;

static void prefixed_names(const char *prefix, topic_names *t)
{
    size_t n = 0;
    for (const char *const *name = jb_broker_jung_topic_names(); *name && n < 64; name++, n++) {
        bool shared =
            strcmp(*name, JB_TOPIC_CONTROLLER) == 0 || strcmp(*name, JB_TOPIC_RUNNER) == 0;
        snprintf(t->store[n], sizeof t->store[n], "%s%s", shared ? "" : prefix, *name);
        t->list[n] = t->store[n];
    }
    t->list[n] = NULL;
}

static bool create_topics(rd_kafka_t *rk, const char *const *names, char *err, size_t errlen)
{
    size_t n = 0;
    while (names[n])
        n++;
    rd_kafka_NewTopic_t **topics = calloc(n, sizeof *topics);
    if (!topics)
        return snprintf(err, errlen, "out of memory"), false;
    for (size_t i = 0; i < n; i++)
        topics[i] = rd_kafka_NewTopic_new(names[i], -1, -1, NULL, 0);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_CreateTopics(rk, topics, n, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, ADMIN_WAIT_MS);
    bool ok = ev != NULL;
    if (!ev)
        snprintf(err, errlen, "no answer to CreateTopics within %d s", ADMIN_WAIT_MS / 1000);
    else if (rd_kafka_event_error(ev)) {
        snprintf(err, errlen, "CreateTopics: %s", rd_kafka_event_error_string(ev));
        ok = false;
    } else {
        size_t nres;
        const rd_kafka_topic_result_t **res =
            rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &nres);
        for (size_t i = 0; i < nres && ok; i++) {
            rd_kafka_resp_err_t e = rd_kafka_topic_result_error(res[i]);
            if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
                snprintf(err, errlen, "cannot create topic %s: %s",
                         rd_kafka_topic_result_name(res[i]),
                         rd_kafka_topic_result_error_string(res[i]));
                ok = false;
            }
        }
    }
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    rd_kafka_NewTopic_destroy_array(topics, n);
    free(topics);
    return ok;
}

/* librdkafka's mock cluster (jungbench broker) does not answer CreateTopics
 * but creates a topic a producer asks metadata for (with its fixed 4
 * partitions): a prefixed run's topics come into being that way there. */
static bool is_mock_cluster(rd_kafka_t *rk)
{
    char *id = rd_kafka_clusterid(rk, 5000);
    bool mock = id && strncmp(id, "mockCluster", 11) == 0;
    rd_kafka_mem_free(rk, id);
    return mock;
}

static bool mock_create_topics(rd_kafka_t *rk, const char *const *names, char *err, size_t errlen)
{
    for (const char *const *name = names; *name; name++) {
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, *name, NULL);
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_resp_err_t e =
            rkt ? rd_kafka_metadata(rk, 0, rkt, &md, 5000) : RD_KAFKA_RESP_ERR__FAIL;
        if (md)
            rd_kafka_metadata_destroy(md);
        if (rkt)
            rd_kafka_topic_destroy(rkt);
        if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
            snprintf(err, errlen, "cannot create topic %s on the mock cluster: %s", *name,
                     rd_kafka_err2str(e));
            return false;
        }
    }
    return true;
}

/* True when every one of names has a leader for each partition. */
static bool topics_led(rd_kafka_t *rk, const char *const *names)
{
    const struct rd_kafka_metadata *md;
    if (rd_kafka_metadata(rk, 1, NULL, &md, 5000) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return false;
    size_t found = 0, wanted = 0;
    for (const char *const *name = names; *name; name++) {
        wanted++;
        for (int t = 0; t < md->topic_cnt; t++) {
            const rd_kafka_metadata_topic_t *mt = &md->topics[t];
            if (strcmp(mt->topic, *name) != 0 || mt->err || mt->partition_cnt == 0)
                continue;
            bool led = true;
            for (int p = 0; p < mt->partition_cnt; p++)
                led &= mt->partitions[p].leader >= 0 && !mt->partitions[p].err;
            found += led;
        }
    }
    rd_kafka_metadata_destroy(md);
    return found == wanted;
}

/* A new topic answers "not leader" until its partitions have leaders. */
static bool wait_for_leaders(rd_kafka_t *rk, const char *const *names, char *err, size_t errlen)
{
    double deadline = jb_now_ms() + ADMIN_WAIT_MS;
    while (!topics_led(rk, names)) {
        if (jb_now_ms() > deadline) {
            snprintf(err, errlen, "Jung's topics have no partition leaders after %d s",
                     ADMIN_WAIT_MS / 1000);
            return false;
        }
        if (jb_stop_requested()) {
            snprintf(err, errlen, "interrupted");
            return false;
        }
        usleep(100 * 1000);
    }
    return true;
}

bool jb_kafka_ensure_topics(const char *bootstrap, const char *props, const char *prefix, char *err,
                            size_t errlen)
{
    topic_names *names = calloc(1, sizeof *names);
    if (!names)
        return snprintf(err, errlen, "out of memory"), false;
    prefixed_names(prefix ? prefix : "", names);
    char why[512];
    rd_kafka_t *rk = client(bootstrap, props, NULL, why, sizeof why);
    if (!rk) {
        snprintf(err, errlen, "cannot reach Kafka at %s: %s", bootstrap, why);
        free(names);
        return false;
    }
    bool ok = topics_led(rk, names->list) ||
              ((is_mock_cluster(rk) ? mock_create_topics(rk, names->list, why, sizeof why)
                                    : create_topics(rk, names->list, why, sizeof why)) &&
               wait_for_leaders(rk, names->list, why, sizeof why));
    rd_kafka_destroy(rk);
    free(names);
    if (!ok)
        snprintf(err, errlen, "Kafka at %s: %s (create them with 'jungbench topics')", bootstrap,
                 why);
    return ok;
}

/* ---- consumer groups --------------------------------------------------------- */

/* A partition's offsets. A topic created a moment ago (a run's prefixed
 * ones) has leaders in its metadata before they serve: "not leader" and
 * "leader not available" then pass within seconds, so they are retried
 * for up to 15 s (a stop signal ends the wait). */
static rd_kafka_resp_err_t watermarks(rd_kafka_t *rk, const char *topic, int p, int64_t *low,
                                      int64_t *high)
{
    double deadline = jb_now_ms() + 15000;
    for (;;) {
        rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(rk, topic, p, low, high, 10000);
        bool settling = e == RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION ||
                        e == RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE ||
                        e == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
        if (!settling || jb_now_ms() > deadline || jb_stop_requested())
            return e;
        usleep(100 * 1000);
    }
}

/* The end offset of each partition of topic, as the commit list; NULL with a
 * reason. *behind: messages between the group's committed offsets and the
 * end (what the group would still have delivered). */
static rd_kafka_topic_partition_list_t *end_offsets(rd_kafka_t *rk, const char *topic,
                                                    long long *behind, char *err, size_t errlen)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e =
        rkt ? rd_kafka_metadata(rk, 0, rkt, &md, 10000) : RD_KAFKA_RESP_ERR__FAIL;
    int nparts = e == RD_KAFKA_RESP_ERR_NO_ERROR && md->topic_cnt == 1 && !md->topics[0].err
                     ? md->topics[0].partition_cnt
                     : 0;
    if (md)
        rd_kafka_metadata_destroy(md);
    if (rkt)
        rd_kafka_topic_destroy(rkt);
    if (nparts == 0) {
        snprintf(err, errlen, "no partitions of topic %s: %s", topic, rd_kafka_err2str(e));
        return NULL;
    }
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(nparts);
    for (int p = 0; p < nparts; p++)
        rd_kafka_topic_partition_list_add(list, topic, p);
    rd_kafka_committed(rk, list, 10000); /* best effort: only for *behind */
    *behind = 0;
    for (int p = 0; p < nparts; p++) {
        int64_t low, high;
        e = watermarks(rk, topic, p, &low, &high);
        if (e) {
            snprintf(err, errlen, "end offset of %s [%d]: %s", topic, p, rd_kafka_err2str(e));
            rd_kafka_topic_partition_list_destroy(list);
            return NULL;
        }
        int64_t from = list->elems[p].offset >= 0 ? list->elems[p].offset : high;
        *behind += high > from ? high - from : 0;
        list->elems[p].offset = high;
    }
    return list;
}

/* The group still has members: their session must expire first. */
static bool group_busy(rd_kafka_resp_err_t e)
{
    return e == RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID || e == RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION ||
           e == RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS ||
           e == RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS ||
           e == RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE ||
           e == RD_KAFKA_RESP_ERR_NOT_COORDINATOR;
}

/* The commit from outside the group (generation -1): what Kafka accepts for
 * an empty group. Returns the broker's answer. */
static rd_kafka_resp_err_t commit_outside(rd_kafka_t *rk, rd_kafka_topic_partition_list_t *list)
{
    return rd_kafka_commit(rk, list, 0);
}

/* The commit as a member: join the group, and once it has an assignment
 * (after any members of an earlier run were evicted), commit and leave.
 * librdkafka's mock cluster refuses commits from outside a group it knows. */
static rd_kafka_resp_err_t commit_as_member(rd_kafka_t *rk, const char *topic,
                                            rd_kafka_topic_partition_list_t *list, double deadline)
{
    rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(sub, topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(rk, sub);
    rd_kafka_topic_partition_list_destroy(sub);
    while (!e) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (m)
            rd_kafka_message_destroy(m); /* nothing is read: the offsets are reset below */
        rd_kafka_topic_partition_list_t *mine = NULL;
        bool assigned =
            rd_kafka_assignment(rk, &mine) == RD_KAFKA_RESP_ERR_NO_ERROR && mine && mine->cnt > 0;
        if (mine)
            rd_kafka_topic_partition_list_destroy(mine);
        if (assigned) {
            e = rd_kafka_commit(rk, list, 0);
            break;
        }
        if (jb_now_ms() > deadline || jb_stop_requested())
            e = RD_KAFKA_RESP_ERR__TIMED_OUT;
    }
    rd_kafka_consumer_close(rk); /* leaves the group */
    return e;
}

static bool group_to_end(const char *bootstrap, const char *props, const jb_kafka_group_topic *g,
                         double deadline, long long *behind, char *err, size_t errlen)
{
    char why[512];
    rd_kafka_t *rk = client(bootstrap, props, g->group, why, sizeof why);
    if (!rk) {
        snprintf(err, errlen, "cannot reach Kafka at %s: %s", bootstrap, why);
        return false;
    }
    rd_kafka_topic_partition_list_t *list = end_offsets(rk, g->topic, behind, why, sizeof why);
    rd_kafka_resp_err_t e = list ? commit_outside(rk, list) : RD_KAFKA_RESP_ERR__FAIL;
    if (list && group_busy(e))
        e = commit_as_member(rk, g->topic, list, deadline);
    bool ok = list && e == RD_KAFKA_RESP_ERR_NO_ERROR;
    if (!list)
        snprintf(err, errlen, "group %s: %s", g->group, why);
    else if (!ok)
        snprintf(err, errlen, "cannot move consumer group %s to the end of %s: %s%s", g->group,
                 g->topic, rd_kafka_err2str(e),
                 e == RD_KAFKA_RESP_ERR__TIMED_OUT
                     ? " (no assignment in time: members of an earlier run may still be in the "
                       "group until their session times out)"
                     : "");
    if (list)
        rd_kafka_topic_partition_list_destroy(list);
    rd_kafka_destroy(rk);
    return ok;
}

bool jb_kafka_groups_to_end(const char *bootstrap, const char *props,
                            const jb_kafka_group_topic *groups, size_t n, double timeout_ms,
                            long long *skipped, char *err, size_t errlen)
{
    double deadline = jb_now_ms() + timeout_ms;
    long long total = 0;
    bool ok = true;
    for (size_t i = 0; ok && i < n; i++) {
        long long behind = 0;
        ok = group_to_end(bootstrap, props, &groups[i], deadline, &behind, err, errlen);
        total += behind;
    }
    if (skipped)
        *skipped = total;
    return ok;
}
