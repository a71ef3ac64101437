/* identity.c - the controller's check of the gateway behind an endpoint
 * (identity.h). */
#include "controller/identity.h"

#include <ctype.h>
#include <curl/curl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

typedef struct identity_answer {
    char name[256];
    bool seen;
} identity_answer;

/* libcurl calls this once per header line ("Name: value\r\n"), not
 * NUL-terminated. */
static size_t on_header(char *line, size_t size, size_t n, void *ctx)
{
    identity_answer *a = ctx;
    size_t len = size * n, key = strlen(JB_GATEWAY_IDENTITY_HEADER);
    if (len > key && line[key] == ':' && strncasecmp(line, JB_GATEWAY_IDENTITY_HEADER, key) == 0) {
        const char *v = line + key + 1, *end = line + len;
        while (v < end && (*v == ' ' || *v == '\t'))
            v++;
        while (end > v && isspace((unsigned char)end[-1]))
            end--;
        snprintf(a->name, sizeof a->name, "%.*s", (int)(end - v), v);
        a->seen = true;
    }
    return len;
}

static size_t discard_body(char *data, size_t size, size_t n, void *ctx)
{
    (void)data;
    (void)ctx;
    return size * n;
}

bool jb_gateway_identity_check(const char *endpoint, const char *expected, long timeout_ms,
                               char *err, size_t errlen)
{
    if (!expected || !expected[0]) {
        snprintf(err, errlen,
                 "READY named no gateway_id: the runner is older than this controller");
        return false;
    }
    CURL *h = curl_easy_init();
    if (!h) {
        snprintf(err, errlen, "cannot check the gateway at %s: libcurl failed to start", endpoint);
        return false;
    }
    char url[2048];
    snprintf(url, sizeof url, "%s/", endpoint);
    identity_answer a = {.seen = false};
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROXY, ""); /* never through a proxy from the environment */
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &a);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard_body);
    CURLcode rc = curl_easy_perform(h);
    curl_easy_cleanup(h);
    if (rc != CURLE_OK) {
        snprintf(err, errlen, "cannot reach the gateway READY named at %s: %s", endpoint,
                 curl_easy_strerror(rc));
        return false;
    }
    if (!a.seen) {
        snprintf(err, errlen,
                 "%s answered without an %s header: that is not the Jung the runner booted "
                 "(another program holds that address and port); refusing to measure it",
                 endpoint, JB_GATEWAY_IDENTITY_HEADER);
        return false;
    }
    if (strcmp(a.name, expected) != 0) {
        snprintf(err, errlen,
                 "%s is answered by another Jung (%s '%s', the runner booted '%s'): a Jung of "
                 "another run or machine holds that address and port (a fixed gateway_port, or "
                 "a runner --advertise address that is not its own); refusing to measure it",
                 endpoint, JB_GATEWAY_IDENTITY_HEADER, a.name, expected);
        return false;
    }
    return true;
}
