/* Configuration: one declarative table per module drives parsing of the YAML file
 * (`-c FILE`), environment variables and flags, validation, `lwstack config` and the docs.
 *
 * Key `a.b-c` is flag `--a.b-c` and environment variable `LWSTACK_A_B_C`. Precedence:
 * flags > environment > file > defaults. A key ending in `.*` (e.g. `bus.kafka.*`) is a
 * pass-through map: any `bus.kafka.<property>` is accepted; from the environment,
 * `LWSTACK_BUS_KAFKA_SASL_USERNAME` is property `sasl.username` (underscores → dots). */
#ifndef LW_CONFIG_H
#define LW_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "cluster/err.h"

typedef enum lw_cfg_type {
    LW_CFG_STRING = 0,
    LW_CFG_INT,      /* 64-bit signed, bounds min..max */
    LW_CFG_BOOL,     /* true/false/yes/no/1/0 */
    LW_CFG_DURATION, /* "1500ms", "5s", "2m", "1h"; stored in milliseconds */
    LW_CFG_LIST,     /* comma-separated in env/flags, a YAML sequence in the file */
    LW_CFG_ENUM,     /* one of `choices` */
    LW_CFG_MAP,      /* key ends in ".*": free-form sub-keys, string values */
} lw_cfg_type_t;

#define LW_CFG_SECRET 0x1u /* never printed; `lwstack config` shows "<redacted>" */

typedef struct lw_cfg_opt {
    const char *key; /* "db.uri" */
    lw_cfg_type_t type;
    const char *def; /* default as text; NULL: unset */
    const char *help;
    unsigned flags;
    long long min, max;         /* LW_CFG_INT / LW_CFG_DURATION (ms); both 0: no bounds */
    const char *const *choices; /* LW_CFG_ENUM: NULL-terminated */
    /* Optional extra check of one value (a list is checked item by item). Returns 0, or
     * writes why the value is wrong into `why` and returns -1. */
    int (*check)(const char *value, char *why, size_t why_len);
} lw_cfg_opt_t;

typedef struct lw_config lw_config_t;

lw_config_t *lw_config_new(void);
void lw_config_free(lw_config_t *cfg);

/* Registers a module's table; `opts` must outlive cfg (tables are static const). */
int lw_config_register(lw_config_t *cfg, const char *module, const lw_cfg_opt_t *opts, size_t n);

/* Loads the file (NULL: none), then `environ`-style variables (NULL-terminated "K=V"
 * strings), then flags. Every value is validated. On error returns -1 with err naming the
 * key, the value and why (config_invalid / config_unknown_key / config_file). */
int lw_config_load_file(lw_config_t *cfg, const char *path, lw_err_t *err);
int lw_config_load_yaml(lw_config_t *cfg, const char *text, size_t len, const char *origin,
                        lw_err_t *err);
int lw_config_load_env(lw_config_t *cfg, char *const *envp, lw_err_t *err);
/* Sets one key from a flag or a test; origin is "flag", "env", "file" or "default". */
int lw_config_set(lw_config_t *cfg, const char *key, const char *value, const char *origin,
                  lw_err_t *err);
/* Is `key` (without leading dashes) a known key? */
bool lw_config_known(const lw_config_t *cfg, const char *key);
const lw_cfg_opt_t *lw_config_opt(const lw_config_t *cfg, const char *key);

/* Typed getters. Unknown keys abort (a programming error, caught by tests). */
const char *lw_config_str(const lw_config_t *cfg, const char *key); /* NULL when unset */
long long lw_config_int(const lw_config_t *cfg, const char *key);
bool lw_config_bool(const lw_config_t *cfg, const char *key);
long long lw_config_duration_ms(const lw_config_t *cfg, const char *key);
/* List items; *n receives the count. The array is owned by cfg. */
const char *const *lw_config_list(const lw_config_t *cfg, const char *key, size_t *n);
/* Map entries under `prefix` ("bus.kafka"): calls fn for each sub-key/value. */
void lw_config_map_each(const lw_config_t *cfg, const char *prefix,
                        void (*fn)(void *arg, const char *subkey, const char *value), void *arg);

/* Takes the configuration flags out of argv: `--key=value`, `--key value`, and `--key` for
 * a boolean. Other arguments are left in order (argv is compacted, *argc updated, argv[0]
 * kept). `-c FILE` / `--config FILE` is not handled here. An unknown `--flag` → -1 with
 * config_unknown_key naming it. */
int lw_config_parse_flags(lw_config_t *cfg, int *argc, char **argv, lw_err_t *err);

/* The environment variable name of a key: "db.uri" → "LWSTACK_DB_URI". */
void lw_config_env_name(const char *key, char *buf, size_t len);

/* ---- redaction: the one place that decides what is printed of a secret ------------------ */

#define LW_CONFIG_REDACTED "<redacted>"

/* True when a key's name says its value is secret: it names a password, secret, token, JAAS
 * configuration or key material (".pem", ending in ".key"). Used for the sub-keys of
 * pass-through maps (bus.kafka.sasl.password), whose table row cannot mark each one. */
bool lw_config_name_secret(const char *name);
/* True when the value of `key` is never printed: its option is marked LW_CFG_SECRET, or
 * (pass-through maps, opt NULL or a map) its name says so. */
bool lw_config_secret(const lw_cfg_opt_t *opt, const char *key);

/* Writes a PostgreSQL connection string into out (cap bytes, NUL-terminated) with every
 * password replaced by LW_CONFIG_REDACTED, keeping the rest for people to read. It works on
 * the text, not through libpq's parser, so that a string libpq refuses is redacted as well:
 *  - URI form (`scheme://...`): whatever stands between the user name's ':' and the last
 *    '@' (a malformed host such as `[bad` after it changes nothing), and the value of every
 *    query parameter named password or sslpassword (percent-encoded names included);
 *  - keyword/value form: the values of password= and sslpassword= (quoted or not); where
 *    the string stops making sense (an unterminated quote, a word without '='), everything
 *    after the next `password=` is left out.
 * NULL prints as "". Returns 0, or -1 when out was too small: out then holds a shortened text
 * that still shows no password. */
int lw_config_redact_uri(const char *uri, char *out, size_t cap);

/* Writes the effective configuration as YAML-like `key: value  # origin` lines to `out`
 * (a FILE *), secrets redacted. */
void lw_config_print(const lw_config_t *cfg, void *out);
/* Writes Markdown documentation of every registered key. */
void lw_config_print_docs(const lw_config_t *cfg, void *out);

#endif
