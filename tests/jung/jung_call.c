/* jung-call: sends tasks to running services and prints their results, for
 * tests and for poking at services by hand.
 *
 *   jung-call --brokers HOST:PORT SERVICE TYPE JSON [TIMEOUT_MS]
 *       one task; prints the result data (exit 0) or "error CODE MESSAGE"
 *       (exit 1). TYPE prefixed with '!' sends it fire-and-forget.
 *   jung-call --brokers HOST:PORT --script < FILE
 *       one process for many tasks (a new client pays for connecting and
 *       looking topics up). Lines, fields separated by '|':
 *         expect|WANT|SERVICE|TYPE|JSON    the result must contain WANT
 *         until|MS|WANT|SERVICE|TYPE|JSON  retried until it does, up to MS
 *         send|SERVICE|TYPE|JSON           fire-and-forget
 *         sleep|MS
 *       '#' starts a comment. Exits 1 at the first mismatch. */
#include "jung/lib/jung.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Result of one call as one line: the data, or "error CODE MESSAGE". */
static char *call_line(jung_bus *bus, const char *service, const char *type, const char *json,
                       int timeout_ms)
{
    json_error_t jerr;
    json_t *payload = json_loads(json, 0, &jerr);
    if (!json_is_object(payload)) {
        json_decref(payload);
        char *msg = NULL;
        if (asprintf(&msg, "bad payload: %s", jerr.text) < 0)
            return NULL;
        return msg;
    }
    json_t *data = NULL;
    jung_error err = {0};
    char *line = NULL;
    if (jung_bus_call(bus, service, type, payload, timeout_ms, &data, &err)) {
        line = json_dumps(data, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(data);
    } else if (asprintf(&line, "error %d %s", err.code, err.message) < 0) {
        line = NULL;
    }
    return line;
}

static char *next_field(char **cursor)
{
    char *start = *cursor;
    if (!start)
        return NULL;
    char *bar = strchr(start, '|');
    if (bar) {
        *bar = '\0';
        *cursor = bar + 1;
    } else {
        *cursor = NULL;
    }
    return start;
}

static bool check_call(jung_bus *bus, char *cur, int lineno, int budget_ms)
{
    char *want = next_field(&cur), *svc = next_field(&cur), *type = next_field(&cur);
    if (!want || !svc || !type || !cur) {
        printf("line %d: expected WANT|SERVICE|TYPE|JSON\n", lineno);
        return false;
    }
    for (int waited = 0;; waited += 100) {
        char *got = call_line(bus, svc, type, cur, 5000);
        bool ok = got && strstr(got, want);
        if (ok || waited >= budget_ms) {
            if (!ok)
                printf("line %d: %s %s %s: wanted '%s', got '%s'\n", lineno, svc, type, cur, want,
                       got ? got : "(nothing)");
            free(got);
            return ok;
        }
        free(got);
        usleep(100 * 1000);
    }
}

static bool run_line(jung_bus *bus, char *line, int lineno)
{
    char *cur = line;
    char *verb = next_field(&cur);
    if (strcmp(verb, "sleep") == 0) {
        usleep((useconds_t)atoi(cur ? cur : "0") * 1000);
        return true;
    }
    if (strcmp(verb, "expect") == 0)
        return check_call(bus, cur, lineno, 0);
    if (strcmp(verb, "until") == 0) {
        char *ms = next_field(&cur);
        return check_call(bus, cur, lineno, ms ? atoi(ms) : 0);
    }
    if (strcmp(verb, "send") == 0) {
        char *svc = next_field(&cur), *type = next_field(&cur);
        json_t *payload = cur ? json_loads(cur, 0, NULL) : NULL;
        jung_error err = {0};
        if (svc && type && payload && jung_bus_send(bus, svc, type, payload, &err))
            return true;
        printf("line %d: send failed %s\n", lineno, err.message);
        return false;
    }
    printf("line %d: unknown verb '%s'\n", lineno, verb);
    return false;
}

static int run_script(jung_bus *bus)
{
    char line[8192];
    int lineno = 0;
    while (fgets(line, sizeof line, stdin)) {
        lineno++;
        line[strcspn(line, "\n")] = '\0';
        if (line[0] == '\0' || line[0] == '#')
            continue;
        if (!run_line(bus, line, lineno))
            return 1;
    }
    printf("script: %d lines ok\n", lineno);
    return 0;
}

static int run_one(jung_bus *bus, int argc, char **argv)
{
    if (argv[4][0] == '!') {
        json_t *payload = json_loads(argv[5], 0, NULL);
        jung_error err = {0};
        if (json_is_object(payload) && jung_bus_send(bus, argv[3], argv[4] + 1, payload, &err))
            return 0;
        fprintf(stderr, "jung-call: cannot send: %s\n", err.message);
        return 1;
    }
    char *line = call_line(bus, argv[3], argv[4], argv[5], argc > 6 ? atoi(argv[6]) : 5000);
    printf("%s\n", line ? line : "error");
    int rc = line && strncmp(line, "error ", 6) != 0 && strncmp(line, "bad ", 4) != 0 ? 0 : 1;
    free(line);
    return rc;
}

int main(int argc, char **argv)
{
    bool script = argc == 4 && strcmp(argv[3], "--script") == 0;
    if ((argc < 6 && !script) || strcmp(argv[1], "--brokers") != 0) {
        fprintf(stderr, "usage: jung-call --brokers HOST:PORT SERVICE TYPE JSON [TIMEOUT_MS]\n"
                        "       jung-call --brokers HOST:PORT --script < FILE\n");
        return 2;
    }
    jung_bus_config cfg = {
        .service = "jung_call", .instance = "jung-call", .brokers = argv[2], .workers = 1};
    jung_error err = {0};
    jung_bus *bus = jung_bus_open(&cfg, &err);
    if (!bus) {
        fprintf(stderr, "jung-call: %s\n", err.message);
        return 1;
    }
    int rc = script ? run_script(bus) : run_one(bus, argc, argv);
    jung_bus_close(bus);
    return rc;
}
