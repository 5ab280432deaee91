/* cfg: strict YAML configuration on libfyaml.
 *
 * Every error, whether YAML syntax or our own validation, is reported as
 * "file:line:col: message" naming the offending key.  Unknown keys are
 * errors; duplicate keys are rejected by the parser.  Callers describe a
 * mapping with a table of struct cfg_field and call cfg_map(). */
#ifndef FL_CFG_H
#define FL_CFG_H

#include <stddef.h>
#include <stdint.h>

struct cfg;
struct fy_node;

#define FL_CFG_MAX_FILE (1024 * 1024)

/* Read and parse PATH (at most 1 MiB).  Returns NULL when the file cannot
 * be read or is not YAML; the reason, "file:line:col: ..." where one
 * applies, is written to ERR. */
struct cfg *cfg_open(const char *path, char *err, size_t errlen);

/* Same, from a buffer; NAME stands for the file name in messages. */
struct cfg *cfg_open_buffer(const char *name, const char *text, size_t len, char *err,
                            size_t errlen);

void cfg_close(struct cfg **c);

/* The document's root node (NULL for an empty document). */
struct fy_node *cfg_root(struct cfg *c);

/* Record an error at NODE (its position, or the file's start for NULL).
 * Errors accumulate; cfg_errors() returns them, one per line. */
void cfg_error(struct cfg *c, struct fy_node *node, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int cfg_error_count(const struct cfg *c);
const char *cfg_errors(const struct cfg *c);

/* A field parser: convert VAL (at KEY) into the object at OUT. */
typedef int (*cfg_parse_fn)(struct cfg *c, struct fy_node *key, struct fy_node *val, void *out,
                            const void *arg);

struct cfg_field {
    const char *name;
    cfg_parse_fn parse;
    size_t offset;   /* where in the object the value goes */
    const void *arg; /* parser-specific: a struct cfg_range, a sub-table, ... */
};

struct cfg_range {
    int64_t min, max;
};

/* Walk the mapping NODE (named WHAT in messages) and hand each key to its
 * field.  Unknown keys and non-mappings are errors.  Returns the number of
 * errors recorded meanwhile. */
int cfg_map(struct cfg *c, struct fy_node *node, const char *what,
            const struct cfg_field *fields, void *obj);

/* Field parsers.  Strings are strdup'd (char *); durations are int64_t
 * microseconds; ints are int64_t (arg: struct cfg_range, optional);
 * booleans are int. */
int cfg_parse_string(struct cfg *c, struct fy_node *key, struct fy_node *val, void *out,
                     const void *arg);
int cfg_parse_duration(struct cfg *c, struct fy_node *key, struct fy_node *val, void *out,
                       const void *arg);
int cfg_parse_int(struct cfg *c, struct fy_node *key, struct fy_node *val, void *out,
                  const void *arg);
int cfg_parse_bool(struct cfg *c, struct fy_node *key, struct fy_node *val, void *out,
                   const void *arg);

/* The scalar text of VAL, or NULL (with an error at KEY) when VAL is not a
 * scalar. */
const char *cfg_scalar(struct cfg *c, struct fy_node *key, struct fy_node *val);

/* The key's text (for messages). */
const char *cfg_key_name(struct fy_node *key);

#endif
