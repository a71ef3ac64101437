/* docker_api.h - a small Docker Engine API client: HTTP over the engine's
 * unix socket with libcurl, JSON with jansson. Internal to platforms/. */
#ifndef JB_PLATFORMS_DOCKER_API_H
#define JB_PLATFORMS_DOCKER_API_H

#include <curl/curl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* API versions this client speaks: engines from 20.10 (API 1.41) on. Newer
 * engines still accept 1.41..1.47 (their MinAPIVersion is lower), so the
 * client asks for the newest version both sides know. */
#define JB_DOCKER_API_MIN "1.41"
#define JB_DOCKER_API_MAX "1.47"

typedef struct jb_buf {
    char *data;
    size_t len, cap;
} jb_buf;
bool jb_buf_append(jb_buf *b, const void *data, size_t len);
void jb_buf_free(jb_buf *b);
/* Appends the whole file at path to out; false with "cannot read PATH: why"
 * or "out of memory reading PATH". */
bool jb_buf_read_file(const char *path, jb_buf *out, char *err, size_t errlen);

typedef struct jb_docker {
    char socket[256];
    char api[16];            /* negotiated, e.g. "1.41" */
    char engine_version[64]; /* e.g. "20.10.24+dfsg1" */
    CURL *curl;
} jb_docker;

/* From a GET /version answer: the API version to use (min of the engine's
 * ApiVersion and ours), refused when the engine is older than 1.41 or
 * demands a newer minimum than 1.47; the engine's version for reports. */
bool jb_docker_negotiate(const char *version_json, char *api, size_t apilen, char *engine,
                         size_t enginelen, char *err, size_t errlen);

/* Connects (GET /version on the socket) and negotiates. */
bool jb_docker_connect(jb_docker *d, const char *socket, char *err, size_t errlen);
void jb_docker_disconnect(jb_docker *d);

/* One request to /v<api><path>. Returns the HTTP status, or 0 when the
 * engine could not be reached (err says why). out may be NULL. */
long jb_docker_call(jb_docker *d, const char *method, const char *path, const char *content_type,
                    const void *body, size_t bodylen, jb_buf *out, char *err, size_t errlen);
/* The same with a JSON body (may be NULL) and a JSON answer: NULL unless
 * the status is 2xx (err then quotes the engine's message). *status gets
 * the status when not NULL. An empty 2xx answer gives an empty object. */
json_t *jb_docker_json(jb_docker *d, const char *method, const char *path, json_t *body,
                       long *status, char *err, size_t errlen);

/* What a container gets. */
typedef struct jb_container_spec {
    const char *image;      /* jung/<service>:<tag> */
    const char *const *cmd; /* arguments after the image's entrypoint */
    const char *const *env; /* "K=V", NULL-terminated; may be NULL */
    const char *run_id, *service, *instance;
    const char *owner;   /* jb_owner_token() of the harness, label jungbench.owner; may be NULL */
    bool bridge;         /* false: host networking */
    const int *ports;    /* 0-terminated: published on host_ip (bridge) */
    const char *host_ip; /* the platform's advertised address; NULL: 127.0.0.1 */
    double cpus;         /* 0: no limit */
    long memory_mb;      /* 0: no limit */
    int stop_timeout_s;
} jb_container_spec;

/* The body of POST /containers/create. */
json_t *jb_docker_create_body(const jb_container_spec *spec);

#endif
