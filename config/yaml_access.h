/* yaml_access.h - typed access to an experiment file's YAML tree, every
 * failure a "FILE:LINE:COL: message" line: internal to config/, the
 * vocabulary config.c's section parsers are written in. */
#ifndef JB_CONFIG_YAML_ACCESS_H
#define JB_CONFIG_YAML_ACCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <yaml.h>

/* One file's parse: its tree, and the errors found so far. */
typedef struct cfg_parser {
    const char *name; /* file name in messages */
    yaml_document_t doc;
    unsigned flags;
    char *err; /* the errors, one a line */
    size_t errlen, used;
    int nerrors, shown; /* found, and written to err */
} cfg_parser;

/* Appends "FILE:LINE:COL: message" as a line of p->err; false, always. */
bool cfg_node_error(cfg_parser *p, const yaml_node_t *node, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

const char *cfg_node_type_name(const yaml_node_t *node);

const char *cfg_scalar(const yaml_node_t *node);

bool cfg_is_plain(const yaml_node_t *node);

/* Edit distance, for "did you mean" hints on misspelt keys and values. */
size_t cfg_edit_distance(const char *a, const char *b);

/* Writes " (did you mean 'x'?)" when one of choices is close to word. */
void cfg_suggestion(const char *word, const char *const *choices, char *out, size_t outlen);

void cfg_join(const char *const *words, char *out, size_t outlen);

yaml_node_t *cfg_node_at(cfg_parser *p, int index);

bool cfg_expect_type(cfg_parser *p, const yaml_node_t *node, yaml_node_type_t type,
                     const char *what, const char *example);

/* Every key of map must be a scalar, known and unique. */
bool cfg_check_keys(cfg_parser *p, const yaml_node_t *map, const char *what,
                    const char *const *valid);

/* A key that is not a scalar (YAML's "? [a]: b") never matches: check_keys
 * reports it, and the other checks go on without reading it as text. */
yaml_node_t *cfg_lookup(cfg_parser *p, const yaml_node_t *map, const char *key);

bool cfg_get_long(cfg_parser *p, const yaml_node_t *map, const char *key, long min, long max,
                  long *out);

bool cfg_get_double(cfg_parser *p, const yaml_node_t *map, const char *key, double min, double max,
                    double *out);

bool cfg_get_bool(cfg_parser *p, const yaml_node_t *map, const char *key, bool *out);

/* A string setting; with choices, it must be one of them. */
bool cfg_get_string(cfg_parser *p, const yaml_node_t *map, const char *key,
                    const char *const *choices, char *out, size_t outlen);

bool cfg_require(cfg_parser *p, const yaml_node_t *map, const char *key, const char *what,
                 const char *example);

/* Names go into file names, container names and SQL: keep them simple. */
bool cfg_check_name(cfg_parser *p, const yaml_node_t *map, const char *key, const char *value);

#endif
