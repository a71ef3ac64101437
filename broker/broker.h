/* broker.h - the embedded Kafka broker: librdkafka's mock cluster, in-process.
 *
 * `jungbench broker`, `jungbench up` and `jungbench run` (with
 * `broker: embedded`) serve Jung's task bus from this: no JVM, no install.
 * The mock cluster speaks the Kafka protocol well enough for producers,
 * consumers and consumer groups (JoinGroup/SyncGroup/Heartbeat/OffsetCommit),
 * keeps everything in memory and dies with the process. docs/broker.md says
 * what it does not do and what a request/reply hop costs on it.
 */
#ifndef JB_CORE_BROKER_H
#define JB_CORE_BROKER_H

#include <stdbool.h>
#include <stddef.h>

typedef struct jb_broker jb_broker;

typedef struct jb_broker_topic {
    const char *name;
    int partitions; /* 0 -> jb_broker_options.partitions */
} jb_broker_topic;

typedef struct jb_broker_options {
    /* TCP port on listen_address; 0 picks a free one. A port in use fails
     * jb_broker_start with a message saying so. */
    int port;
    /* The IPv4 address to listen on, and unless advertise_address says
     * otherwise the one the broker advertises in its metadata; NULL:
     * 127.0.0.1. Another machine's runners reach the broker at a non-loopback
     * one (docs/multi-host.md). */
    const char *listen_address;
    /* The address the broker names in its metadata, when not the one it
     * listens on (e.g. listen 0.0.0.0, advertise 10.0.0.1); NULL: the
     * listening address. Never 0.0.0.0. */
    const char *advertise_address;
    /* Partitions of every created topic that does not say otherwise, and of
     * topics clients auto-create; 0 -> 1. */
    int partitions;
    /* Topics to create besides the Jung ones. May be NULL/0. */
    const jb_broker_topic *topics;
    size_t topic_count;
    /* When true, do NOT create the Jung topics (jb_broker_jung_topic_names). */
    bool no_jung_topics;
} jb_broker_options;

/* Starts the broker; returns NULL with a message in err on failure.
 * The broker runs on its own thread until jb_broker_stop. */
jb_broker *jb_broker_start(const jb_broker_options *opts, char *err, size_t errlen);

/* "127.0.0.1:PORT": pass as bootstrap.servers. Valid until jb_broker_stop. */
const char *jb_broker_bootstrap(const jb_broker *broker);
int jb_broker_port(const jb_broker *broker);

/* Delays every response by rtt_ms (the mock's artificial round-trip time),
 * e.g. to imitate a remote cluster. 0 turns it off. */
bool jb_broker_set_rtt(jb_broker *broker, int rtt_ms);

/* Which mock cluster serves: "patched" when librdkafka was loaded from
 * scripts/librdkafka-patched's prefix (its Fetch no longer walks the whole
 * log), "unpatched" otherwise. *library gets the loaded file's path. Asks
 * the dynamic loader, not the build: a RUNPATH that no longer resolves falls
 * back to Debian's copy silently. */
const char *jb_broker_mock_build(const char **library);

/* The Kafka properties ("k=v,k=v") for Jung services that this process's
 * embedded broker serves: user_props, after libjung's padding when the mock
 * cluster is unpatched (jung/lib/bus.c says why). user_props come last, so
 * they win. */
void jb_broker_service_props(const char *user_props, char *out, size_t outlen);

/* Stops the broker and frees it; NULL is fine. Connected clients see their
 * connections drop. */
void jb_broker_stop(jb_broker *broker);

/* The topics every Jung deployment needs: "<service>_tasks" and
 * "<service>_results" for each of the eight services, plus "controller" and
 * "runner". NULL-terminated, static. */
const char *const *jb_broker_jung_topic_names(void);

/* `jungbench broker [--port N] [--partitions N]` (broker/broker_cmd.c). */
int broker_main(int argc, char **argv);
/* `jungbench topics --bootstrap HOST:PORT`: Jung's topics on a real Kafka
 * (broker/topics_cmd.c). */
int topics_main(int argc, char **argv);

#endif
