/* jung_load.c - a small load client for Jung's REST API (bench/jung-throughput).
 *
 * N clients, each one keep-alive connection, run their request lists
 * concurrently on one libcurl multi handle. Client i acts as user i and
 * replays the dissertation's per-user mix (table 2): 25 GET user, 25 GET
 * device, 225 GET readings, 225 POST commands, in that order. With --seed it
 * first creates the users, their devices and one rule per device, so that
 * every command breaks the rule and the rule engine sends the opposite
 * command (section 5.1).
 *
 * Names are predictable so that runs can be repeated against a seeded Jung:
 * user "user<i>", password "pass<i>", device "user<i>-dev<j>".
 */
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct options {
    const char *url;
    int users;
    int devices;
    int rules;
    int repeat;
    bool seed;
    bool mix;
} options;

typedef struct req {
    const char *method; /* "GET" or "POST" */
    char path[160];
    char body[96];
} req;

/* One simulated user: its credentials, its request list and its cursor. */
typedef struct client {
    CURL *easy;
    char userpwd[64];
    req *reqs;
    int n;
    int next;
    double started_ms;
    char url[256];
} client;

typedef struct stats {
    double *lat_ms;
    size_t n;
    size_t cap;
    long errors;
    long status_counts[6]; /* by hundreds: 1xx..5xx, [0] transport errors */
    char first_error[256];
} stats;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static size_t discard(char *p, size_t size, size_t n, void *ud)
{
    return size * n;
}

static void add_req(client *c, int cap, const char *method, const char *path, const char *body)
{
    if (c->n >= cap)
        return;
    req *r = &c->reqs[c->n++];
    r->method = method;
    snprintf(r->path, sizeof r->path, "%s", path);
    snprintf(r->body, sizeof r->body, "%s", body ? body : "");
}

/* Table 2 of the dissertation, per user, `repeat` times over. */
static void build_mix(client *c, int user, const options *o)
{
    int cap = 500 * o->repeat;
    c->reqs = calloc((size_t)cap, sizeof(req));
    char path[160];
    for (int rep = 0; rep < o->repeat; rep++) {
        snprintf(path, sizeof path, "/users/user%d", user);
        for (int k = 0; k < 25; k++)
            add_req(c, cap, "GET", path, NULL);
        for (int k = 0; k < 25; k++) {
            snprintf(path, sizeof path, "/users/user%d/devices/user%d-dev%d", user, user,
                     k % o->devices);
            add_req(c, cap, "GET", path, NULL);
        }
        for (int k = 0; k < 225; k++) {
            snprintf(path, sizeof path,
                     "/users/user%d/devices/user%d-dev%d/readings?page=1&size=10", user, user,
                     k % o->devices);
            add_req(c, cap, "GET", path, NULL);
        }
        for (int k = 0; k < 225; k++) {
            snprintf(path, sizeof path, "/users/user%d/devices/user%d-dev%d/commands", user, user,
                     k % o->devices);
            add_req(c, cap, "POST", path, "{\"value\":1}");
        }
    }
}

/* Seeding happens in three waves (users, then devices, then rules) because
 * each depends on the previous one existing. */
static void build_seed(client *c, int user, const options *o, int wave)
{
    int cap = o->devices * (o->rules > 0 ? o->rules : 1) + 1;
    c->reqs = calloc((size_t)cap, sizeof(req));
    char path[160], body[96];
    if (wave == 0) {
        snprintf(body, sizeof body, "{\"username\":\"user%d\",\"password\":\"pass%d\"}", user,
                 user);
        add_req(c, cap, "POST", "/users", body);
        return;
    }
    for (int d = 0; d < o->devices; d++) {
        if (wave == 1) {
            snprintf(path, sizeof path, "/users/user%d/devices", user);
            snprintf(body, sizeof body, "{\"id\":\"user%d-dev%d\"}", user, d);
            add_req(c, cap, "POST", path, body);
            continue;
        }
        snprintf(path, sizeof path, "/users/user%d/devices/user%d-dev%d/rules", user, user, d);
        for (int r = 0; r < o->rules; r++)
            add_req(c, cap, "POST", path,
                    "{\"operator\":\"==\",\"value\":0,\"command\":{\"value\":0}}");
    }
}

static void start_next(CURLM *multi, client *c, const options *o)
{
    req *r = &c->reqs[c->next];
    snprintf(c->url, sizeof c->url, "%s%s", o->url, r->path);
    curl_easy_setopt(c->easy, CURLOPT_URL, c->url);
    if (strcmp(r->method, "POST") == 0) {
        curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, r->body);
        curl_easy_setopt(c->easy, CURLOPT_POSTFIELDSIZE, (long)strlen(r->body));
    } else {
        curl_easy_setopt(c->easy, CURLOPT_HTTPGET, 1L);
    }
    c->started_ms = now_ms();
    curl_multi_add_handle(multi, c->easy);
}

static void record(stats *s, client *c, CURLcode rc)
{
    double lat = now_ms() - c->started_ms;
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 4096;
        s->lat_ms = realloc(s->lat_ms, s->cap * sizeof(double));
    }
    s->lat_ms[s->n++] = lat;
    long status = 0;
    curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
    int bucket = (rc == CURLE_OK && status >= 100 && status < 600) ? (int)(status / 100) : 0;
    s->status_counts[bucket]++;
    if (bucket == 2)
        return;
    s->errors++;
    if (!s->first_error[0])
        snprintf(s->first_error, sizeof s->first_error, "%s %s -> %s (HTTP %ld)",
                 c->reqs[c->next].method, c->reqs[c->next].path,
                 rc == CURLE_OK ? "error" : curl_easy_strerror(rc), status);
}

static struct curl_slist *json_headers(void)
{
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    /* curl would otherwise wait for "100 Continue" on POST bodies. */
    return curl_slist_append(h, "Expect:");
}

/* Runs every client's list to the end; returns the wall time in ms. */
static double run_clients(client *clients, int n, const options *o, stats *s)
{
    CURLM *multi = curl_multi_init();
    struct curl_slist *headers = json_headers();
    int active = 0;
    double t0 = now_ms();
    for (int i = 0; i < n; i++) {
        client *c = &clients[i];
        c->easy = curl_easy_init();
        curl_easy_setopt(c->easy, CURLOPT_USERPWD, c->userpwd);
        curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, discard);
        curl_easy_setopt(c->easy, CURLOPT_TIMEOUT_MS, 30000L);
        curl_easy_setopt(c->easy, CURLOPT_TCP_NODELAY, 1L);
        curl_easy_setopt(c->easy, CURLOPT_PRIVATE, c);
        if (c->n > 0) {
            start_next(multi, c, o);
            active++;
        }
    }
    while (active > 0) {
        int running;
        curl_multi_perform(multi, &running);
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(multi, &left))) {
            if (m->msg != CURLMSG_DONE)
                continue;
            client *c;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&c);
            record(s, c, m->data.result);
            curl_multi_remove_handle(multi, c->easy);
            if (++c->next < c->n)
                start_next(multi, c, o);
            else
                active--;
        }
        if (active > 0)
            curl_multi_poll(multi, NULL, 0, 100, NULL);
    }
    double elapsed = now_ms() - t0;
    for (int i = 0; i < n; i++)
        curl_easy_cleanup(clients[i].easy);
    curl_slist_free_all(headers);
    curl_multi_cleanup(multi);
    return elapsed;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double percentile(const double *sorted, size_t n, double p)
{
    if (n == 0)
        return NAN;
    size_t i = (size_t)ceil(p / 100.0 * (double)n);
    return sorted[i == 0 ? 0 : i - 1];
}

static void report(const char *phase, stats *s, double elapsed_ms)
{
    qsort(s->lat_ms, s->n, sizeof(double), cmp_double);
    double sum = 0;
    for (size_t i = 0; i < s->n; i++)
        sum += s->lat_ms[i];
    printf("%s requests=%zu seconds=%.3f throughput_rps=%.1f mean_ms=%.2f p50_ms=%.2f "
           "p99_ms=%.2f max_ms=%.2f errors=%ld\n",
           phase, s->n, elapsed_ms / 1e3, s->n / (elapsed_ms / 1e3), s->n ? sum / s->n : NAN,
           percentile(s->lat_ms, s->n, 50), percentile(s->lat_ms, s->n, 99),
           s->n ? s->lat_ms[s->n - 1] : NAN, s->errors);
    if (s->errors)
        printf("%s first_error: %s (transport=%ld 4xx=%ld 5xx=%ld)\n", phase, s->first_error,
               s->status_counts[0], s->status_counts[4], s->status_counts[5]);
    fflush(stdout);
}

static long run_phase(const char *phase, const options *o, int wave)
{
    client *clients = calloc((size_t)o->users, sizeof(client));
    for (int i = 0; i < o->users; i++) {
        snprintf(clients[i].userpwd, sizeof clients[i].userpwd, "user%d:pass%d", i, i);
        if (wave < 0)
            build_mix(&clients[i], i, o);
        else
            build_seed(&clients[i], i, o, wave);
    }
    stats s = {0};
    double elapsed = run_clients(clients, o->users, o, &s);
    report(phase, &s, elapsed);
    for (int i = 0; i < o->users; i++)
        free(clients[i].reqs);
    free(clients);
    free(s.lat_ms);
    return s.errors;
}

static void usage(FILE *out)
{
    fprintf(out, "Usage: jung-load --url URL [--users N] [--devices N] [--rules N] [--repeat N]\n"
                 "                 [--seed] [--no-mix]\n\n"
                 "Replays the dissertation's per-user request mix (table 2) with one keep-alive\n"
                 "client per user and prints throughput, latency percentiles and errors.\n"
                 "  --url URL     the gateway, e.g. http://127.0.0.1:8080\n"
                 "  --users N     concurrent clients, one per user (default 30)\n"
                 "  --devices N   devices per user (default 30)\n"
                 "  --rules N     rules per device when seeding (default 1)\n"
                 "  --repeat N    replay the 500-request list N times per user (default 1)\n"
                 "  --seed        first create users, devices and rules\n"
                 "  --no-mix      only seed\n");
}

static bool parse_int(const char *opt, const char *v, int min, int max, int *out)
{
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || end == v || *end || n < min || n > max) {
        fprintf(stderr, "jung-load: %s must be a whole number in %d..%d, got '%s'\n", opt, min, max,
                v);
        return false;
    }
    *out = (int)n;
    return true;
}

static int parse_options(options *o, int argc, char **argv)
{
    static const struct option longopts[] = {{"url", required_argument, NULL, 'u'},
                                             {"users", required_argument, NULL, 'U'},
                                             {"devices", required_argument, NULL, 'd'},
                                             {"rules", required_argument, NULL, 'r'},
                                             {"repeat", required_argument, NULL, 'R'},
                                             {"seed", no_argument, NULL, 's'},
                                             {"no-mix", no_argument, NULL, 'n'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        bool ok = true;
        switch (ch) {
        case 'u':
            o->url = optarg;
            break;
        case 'U':
            ok = parse_int("--users", optarg, 1, 1000, &o->users);
            break;
        case 'd':
            ok = parse_int("--devices", optarg, 1, 1000, &o->devices);
            break;
        case 'r':
            ok = parse_int("--rules", optarg, 0, 100, &o->rules);
            break;
        case 'R':
            ok = parse_int("--repeat", optarg, 1, 1000, &o->repeat);
            break;
        case 's':
            o->seed = true;
            break;
        case 'n':
            o->mix = false;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
        if (!ok)
            return 2;
    }
    if (!o->url || optind != argc) {
        fprintf(stderr, "jung-load: %s\n", o->url ? "unexpected argument" : "--url is required");
        usage(stderr);
        return 2;
    }
    return -1;
}

int main(int argc, char **argv)
{
    options o = {.users = 30, .devices = 30, .rules = 1, .repeat = 1, .mix = true};
    int rc = parse_options(&o, argc, argv);
    if (rc >= 0)
        return rc;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    long errors = 0;
    if (o.seed) {
        errors += run_phase("seed-users", &o, 0);
        errors += run_phase("seed-devices", &o, 1);
        if (o.rules > 0)
            errors += run_phase("seed-rules", &o, 2);
    }
    if (o.mix)
        errors += run_phase("mix", &o, -1);
    curl_global_cleanup();
    return errors ? 1 : 0;
}
