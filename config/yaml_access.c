/* yaml_access.c - typed access to the YAML tree, with the messages and
 * "did you mean" hints every config error carries (yaml_access.h). */
#include "config/yaml_access.h"
#include "config/config.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- messages ------------------------------------------------------------ */

/* Appends "FILE:LINE:COL: message" as a line of p->err; false, always. */
bool cfg_node_error(cfg_parser *p, const yaml_node_t *node, const char *fmt, ...)
{
    /* room is kept for jb_config_parse's "N more errors" line */
    if (p->nerrors++ >= JB_CONFIG_MAX_ERRORS || (p->used && p->used + 200 >= p->errlen))
        return false;
    char *at = p->err + p->used;
    size_t room = p->errlen - p->used;
    int n = snprintf(at, room, "%s%s:%zu:%zu: ", p->used ? "\n" : "", p->name,
                     node->start_mark.line + 1, node->start_mark.column + 1);
    if (n < 0 || (size_t)n >= room) {
        *at = '\0';
        return false;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(at + n, room - (size_t)n, fmt, ap);
    va_end(ap);
    /* One error, one line: a quoted value may hold a line break (a folded
     * scalar), which would split it, and sort_errors orders whole lines. */
    for (char *c = at + n; *c; c++)
        if ((unsigned char)*c < 0x20)
            *c = ' ';
    p->used += strlen(at);
    p->shown++;
    return false;
}

const char *cfg_node_type_name(const yaml_node_t *node)
{
    switch (node->type) {
    case YAML_SCALAR_NODE:
        return "a scalar";
    case YAML_SEQUENCE_NODE:
        return "a list";
    case YAML_MAPPING_NODE:
        return "a mapping";
    default:
        return "nothing";
    }
}

const char *cfg_scalar(const yaml_node_t *node)
{
    return (const char *)node->data.scalar.value;
}

bool cfg_is_plain(const yaml_node_t *node)
{
    return node->type == YAML_SCALAR_NODE && node->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

/* Edit distance, for "did you mean" hints on misspelt keys and values. */
size_t cfg_edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63)
        return SIZE_MAX;
    size_t row[64];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            size_t best = diag + cost;
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* Writes " (did you mean 'x'?)" when one of choices is close to word. */
void cfg_suggestion(const char *word, const char *const *choices, char *out, size_t outlen)
{
    const char *best = NULL;
    size_t best_d = SIZE_MAX;
    for (const char *const *c = choices; *c; c++) {
        size_t d = cfg_edit_distance(word, *c);
        if (d < best_d) {
            best_d = d;
            best = *c;
        }
    }
    size_t len = strlen(word);
    if (best && best_d <= (len < 5 ? 1u : 3u))
        snprintf(out, outlen, " (did you mean '%s'?)", best);
    else
        out[0] = '\0';
}

void cfg_join(const char *const *words, char *out, size_t outlen)
{
    size_t used = 0;
    out[0] = '\0';
    for (const char *const *w = words; *w && used < outlen; w++) {
        int n = snprintf(out + used, outlen - used, "%s%s", w == words ? "" : ", ", *w);
        if (n < 0)
            break;
        used += (size_t)n;
    }
}

/* ---- typed access to mappings -------------------------------------------- */

yaml_node_t *cfg_node_at(cfg_parser *p, int index)
{
    return yaml_document_get_node(&p->doc, index);
}

bool cfg_expect_type(cfg_parser *p, const yaml_node_t *node, yaml_node_type_t type,
                     const char *what, const char *example)
{
    if (node->type == type)
        return true;
    const char *want = type == YAML_MAPPING_NODE    ? "a mapping"
                       : type == YAML_SEQUENCE_NODE ? "a list"
                                                    : "a scalar";
    return cfg_node_error(p, node, "%s must be %s, not %s (e.g. %s)", what, want,
                          cfg_node_type_name(node), example);
}

/* Every key of map must be a scalar, known and unique. */
bool cfg_check_keys(cfg_parser *p, const yaml_node_t *map, const char *what,
                    const char *const *valid)
{
    bool ok = true;
    for (yaml_node_pair_t *a = map->data.mapping.pairs.start; a < map->data.mapping.pairs.top;
         a++) {
        yaml_node_t *key = cfg_node_at(p, a->key);
        if (key->type != YAML_SCALAR_NODE)
            return cfg_node_error(p, key, "keys in %s must be plain words, not %s", what,
                                  cfg_node_type_name(key));
        bool known = false;
        for (const char *const *v = valid; *v && !known; v++)
            known = strcmp(*v, cfg_scalar(key)) == 0;
        if (!known) {
            char hint[96], list[512];
            cfg_suggestion(cfg_scalar(key), valid, hint, sizeof hint);
            if (strncmp(cfg_scalar(key), "osv_", 4) == 0) /* the flat keys of older docs */
                snprintf(hint, sizeof hint,
                         " (OSv settings go under 'osv:', e.g. osv: {%.20s: ...})",
                         cfg_scalar(key) + 4);
            cfg_join(valid, list, sizeof list);
            ok = cfg_node_error(p, key, "unknown key '%s' in %s%s; valid keys: %s", cfg_scalar(key),
                                what, hint, list);
            continue;
        }
        for (yaml_node_pair_t *b = map->data.mapping.pairs.start; b < a; b++)
            if (strcmp(cfg_scalar(cfg_node_at(p, b->key)), cfg_scalar(key)) == 0) {
                ok = cfg_node_error(p, key, "key '%s' appears twice in %s", cfg_scalar(key), what);
                break;
            }
    }
    return ok;
}

/* A key that is not a scalar (YAML's "? [a]: b") never matches: check_keys
 * reports it, and the other checks go on without reading it as text. */
yaml_node_t *cfg_lookup(cfg_parser *p, const yaml_node_t *map, const char *key)
{
    for (yaml_node_pair_t *a = map->data.mapping.pairs.start; a < map->data.mapping.pairs.top;
         a++) {
        yaml_node_t *k = cfg_node_at(p, a->key);
        if (k->type == YAML_SCALAR_NODE && strcmp(cfg_scalar(k), key) == 0)
            return cfg_node_at(p, a->value);
    }
    return NULL;
}

bool cfg_get_long(cfg_parser *p, const yaml_node_t *map, const char *key, long min, long max,
                  long *out)
{
    yaml_node_t *v = cfg_lookup(p, map, key);
    if (!v)
        return true;
    if (!cfg_is_plain(v))
        return cfg_node_error(
            p, v, "'%s' must be a whole number from %ld to %ld, not %s", key, min, max,
            v->type == YAML_SCALAR_NODE ? "a quoted string" : cfg_node_type_name(v));
    char *end = NULL;
    errno = 0;
    long n = strtol(cfg_scalar(v), &end, 10);
    if (errno || end == cfg_scalar(v) || *end)
        return cfg_node_error(p, v, "'%s' must be a whole number from %ld to %ld, not '%s'", key,
                              min, max, cfg_scalar(v));
    if (n < min || n > max)
        return cfg_node_error(p, v, "'%s' is %ld, out of range: use %ld to %ld", key, n, min, max);
    *out = n;
    return true;
}

bool cfg_get_double(cfg_parser *p, const yaml_node_t *map, const char *key, double min, double max,
                    double *out)
{
    yaml_node_t *v = cfg_lookup(p, map, key);
    if (!v)
        return true;
    char *end = NULL;
    errno = 0;
    double d = cfg_is_plain(v) ? strtod(cfg_scalar(v), &end) : NAN;
    if (!cfg_is_plain(v) || errno || end == cfg_scalar(v) || *end || !isfinite(d))
        return cfg_node_error(p, v, "'%s' must be a number from %g to %g, not %s%s%s", key, min,
                              max, v->type == YAML_SCALAR_NODE ? "'" : "",
                              v->type == YAML_SCALAR_NODE ? cfg_scalar(v) : cfg_node_type_name(v),
                              v->type == YAML_SCALAR_NODE ? "'" : "");
    if (d < min || d > max)
        return cfg_node_error(p, v, "'%s' is %g, out of range: use %g to %g", key, d, min, max);
    *out = d;
    return true;
}

bool cfg_get_bool(cfg_parser *p, const yaml_node_t *map, const char *key, bool *out)
{
    yaml_node_t *v = cfg_lookup(p, map, key);
    if (!v)
        return true;
    static const char *const yes[] = {"true", "yes", "on", NULL};
    static const char *const no[] = {"false", "no", "off", NULL};
    for (int truth = 0; truth < 2 && cfg_is_plain(v); truth++)
        for (const char *const *w = truth ? yes : no; *w; w++)
            if (strcmp(*w, cfg_scalar(v)) == 0) {
                *out = truth;
                return true;
            }
    return cfg_node_error(p, v, "'%s' must be true or false, not %s%s%s", key,
                          v->type == YAML_SCALAR_NODE ? "'" : "",
                          v->type == YAML_SCALAR_NODE ? cfg_scalar(v) : cfg_node_type_name(v),
                          v->type == YAML_SCALAR_NODE ? "'" : "");
}

/* A string setting; with choices, it must be one of them. */
bool cfg_get_string(cfg_parser *p, const yaml_node_t *map, const char *key,
                    const char *const *choices, char *out, size_t outlen)
{
    yaml_node_t *v = cfg_lookup(p, map, key);
    if (!v)
        return true;
    if (v->type != YAML_SCALAR_NODE)
        return cfg_node_error(p, v, "'%s' must be a string, not %s", key, cfg_node_type_name(v));
    const char *s = cfg_scalar(v);
    if (choices) {
        bool ok = false;
        for (const char *const *c = choices; *c && !ok; c++)
            ok = strcmp(*c, s) == 0;
        if (!ok) {
            char hint[96], list[256];
            cfg_suggestion(s, choices, hint, sizeof hint);
            cfg_join(choices, list, sizeof list);
            return cfg_node_error(p, v, "'%s' is '%s'%s; valid values: %s", key, s, hint, list);
        }
    }
    if (strlen(s) >= outlen)
        return cfg_node_error(p, v, "'%s' is too long (at most %zu characters)", key, outlen - 1);
    memcpy(out, s, strlen(s) + 1);
    return true;
}

bool cfg_require(cfg_parser *p, const yaml_node_t *map, const char *key, const char *what,
                 const char *example)
{
    if (cfg_lookup(p, map, key))
        return true;
    return cfg_node_error(p, map, "%s is missing required key '%s' (e.g. %s)", what, key, example);
}

/* Names go into file names, container names and SQL: keep them simple. */
bool cfg_check_name(cfg_parser *p, const yaml_node_t *map, const char *key, const char *value)
{
    if (!value[0])
        return cfg_node_error(p, cfg_lookup(p, map, key), "'%s' must not be empty", key);
    for (const char *c = value; *c; c++)
        if (!(('a' <= *c && *c <= 'z') || ('A' <= *c && *c <= 'Z') || ('0' <= *c && *c <= '9') ||
              *c == '_' || *c == '-' || *c == '.'))
            return cfg_node_error(p, cfg_lookup(p, map, key),
                                  "'%s' is '%s': use only letters, digits, '_', '-' and '.'", key,
                                  value);
    return true;
}
