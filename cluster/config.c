#include "cluster/config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <yaml.h>

#include "cluster/hex.h"
#include "cluster/log.h"
#include "cluster/mem.h"

/* One registered key with its current value. */
typedef struct cfg_entry {
    const lw_cfg_opt_t *opt;
    const char *module;
    bool set;
    char *text;   /* as given (lists: joined with ", ") */
    char **items; /* LW_CFG_LIST */
    size_t nitems;
    long long num;      /* INT, DURATION (ms) */
    bool flag;          /* BOOL */
    const char *origin; /* "default", "file", "env", "flag" */
} cfg_entry_t;

/* One sub-key of a pass-through map ("bus.kafka.sasl.username"). */
typedef struct cfg_map_entry {
    const lw_cfg_opt_t *opt;
    char *key;
    char *value;
    const char *origin;
} cfg_map_entry_t;

struct lw_config {
    cfg_entry_t *entries;
    size_t n, cap;
    cfg_map_entry_t *map;
    size_t nmap, capmap;
};

static void cfg_entry_clear(cfg_entry_t *e)
{
    free(e->text);
    e->text = NULL;
    for (size_t i = 0; i < e->nitems; i++)
        free(e->items[i]);
    free(e->items);
    e->items = NULL;
    e->nitems = 0;
    e->set = false;
}

lw_config_t *lw_config_new(void)
{
    return lw_calloc(1, sizeof(lw_config_t));
}

void lw_config_free(lw_config_t *cfg)
{
    if (cfg == NULL)
        return;
    for (size_t i = 0; i < cfg->n; i++)
        cfg_entry_clear(&cfg->entries[i]);
    free(cfg->entries);
    for (size_t i = 0; i < cfg->nmap; i++) {
        free(cfg->map[i].key);
        free(cfg->map[i].value);
    }
    free(cfg->map);
    free(cfg);
}

static bool cfg_is_map(const lw_cfg_opt_t *opt)
{
    return opt->type == LW_CFG_MAP;
}

/* "bus.kafka.*" matches "bus.kafka.x" (at least one character after the dot). */
static bool cfg_map_matches(const lw_cfg_opt_t *opt, const char *key)
{
    size_t plen = strlen(opt->key) - 1; /* keep the dot, drop the star */
    return strncmp(opt->key, key, plen) == 0 && key[plen] != '\0';
}

static cfg_entry_t *cfg_find(const lw_config_t *cfg, const char *key)
{
    for (size_t i = 0; i < cfg->n; i++)
        if (!cfg_is_map(cfg->entries[i].opt) && strcmp(cfg->entries[i].opt->key, key) == 0)
            return &cfg->entries[i];
    return NULL;
}

static const lw_cfg_opt_t *cfg_find_map(const lw_config_t *cfg, const char *key)
{
    for (size_t i = 0; i < cfg->n; i++)
        if (cfg_is_map(cfg->entries[i].opt) && cfg_map_matches(cfg->entries[i].opt, key))
            return cfg->entries[i].opt;
    return NULL;
}

bool lw_config_known(const lw_config_t *cfg, const char *key)
{
    return cfg_find(cfg, key) != NULL || cfg_find_map(cfg, key) != NULL;
}

const lw_cfg_opt_t *lw_config_opt(const lw_config_t *cfg, const char *key)
{
    cfg_entry_t *e = cfg_find(cfg, key);
    return e != NULL ? e->opt : cfg_find_map(cfg, key);
}

static int cfg_invalid(lw_err_t *err, const lw_cfg_opt_t *opt, const char *key, const char *value,
                       const char *why)
{
    /* A secret's value is never echoed back. */
    const char *shown = lw_config_secret(opt, key) ? LW_CONFIG_REDACTED : value;
    lw_err_set(err, &lw_err_config_invalid, "invalid value `%s` for `%s`: %s", shown, key, why);
    lw_err_attr(err, "key", key);
    lw_err_attr(err, "value", shown);
    return -1;
}

/* Parses "250ms", "5s", "2m", "1h" into milliseconds. */
static int cfg_parse_duration(const char *s, long long *ms)
{
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (end == s || errno != 0 || v < 0)
        return -1;
    long long mult;
    if (strcmp(end, "ms") == 0)
        mult = 1;
    else if (strcmp(end, "s") == 0)
        mult = 1000;
    else if (strcmp(end, "m") == 0)
        mult = 60000;
    else if (strcmp(end, "h") == 0)
        mult = 3600000;
    else
        return -1;
    if (v > (long long)9e15 / mult)
        return -1;
    *ms = v * mult;
    return 0;
}

static int cfg_parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (strcmp(s, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcmp(s, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -1;
}

/* Validates one scalar value of opt; fills num/flag. Returns 0 or -1 with err. */
static int cfg_check_scalar(const lw_cfg_opt_t *opt, const char *key, const char *value,
                            long long *num, bool *flag, lw_err_t *err)
{
    char why[160];
    switch (opt->type) {
    case LW_CFG_INT: {
        errno = 0;
        char *end;
        long long v = strtoll(value, &end, 10);
        if (*value == '\0' || *end != '\0' || errno != 0)
            return cfg_invalid(err, opt, key, value, "not an integer");
        if ((opt->min || opt->max) && (v < opt->min || v > opt->max)) {
            snprintf(why, sizeof why, "must be between %lld and %lld", opt->min, opt->max);
            return cfg_invalid(err, opt, key, value, why);
        }
        *num = v;
        break;
    }
    case LW_CFG_DURATION: {
        long long v;
        if (cfg_parse_duration(value, &v) != 0)
            return cfg_invalid(err, opt, key, value,
                               "not a duration (a whole number with unit ms, s, m or h)");
        if ((opt->min || opt->max) && (v < opt->min || v > opt->max)) {
            snprintf(why, sizeof why, "must be between %lldms and %lldms", opt->min, opt->max);
            return cfg_invalid(err, opt, key, value, why);
        }
        *num = v;
        break;
    }
    case LW_CFG_BOOL:
        if (cfg_parse_bool(value, flag) != 0)
            return cfg_invalid(err, opt, key, value, "not a boolean (true or false)");
        break;
    case LW_CFG_ENUM: {
        bool found = false;
        for (const char *const *c = opt->choices; c != NULL && *c != NULL; c++)
            found = found || strcmp(*c, value) == 0;
        if (!found) {
            size_t pos = (size_t)snprintf(why, sizeof why, "must be one of");
            for (const char *const *c = opt->choices; c != NULL && *c != NULL; c++)
                if (pos < sizeof why)
                    pos += (size_t)snprintf(why + pos, sizeof why - pos, " %s", *c);
            return cfg_invalid(err, opt, key, value, why);
        }
        break;
    }
    default:
        break;
    }
    if (opt->check != NULL && opt->check(value, why, sizeof why) != 0)
        return cfg_invalid(err, opt, key, value, why);
    return 0;
}

/* Splits "a, b,c" into trimmed items (empty items dropped). */
static size_t cfg_split(const char *value, char ***out)
{
    size_t n = 0, cap = 4;
    char **items = lw_malloc(cap * sizeof *items);
    const char *p = value;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        const char *s = p, *e = p + len;
        while (s < e && isspace((unsigned char)*s))
            s++;
        while (e > s && isspace((unsigned char)e[-1]))
            e--;
        if (e > s) {
            if (n == cap) {
                cap *= 2;
                items = lw_realloc(items, cap * sizeof *items);
            }
            items[n] = lw_strndup(s, (size_t)(e - s));
            n++;
        }
        p += len;
        if (*p == ',')
            p++;
    }
    *out = items;
    return n;
}

/* Sets a list from already separated items (YAML sequences) or a comma-separated text. */
static int cfg_set_list(cfg_entry_t *e, char **items, size_t n, const char *origin, lw_err_t *err)
{
    for (size_t i = 0; i < n; i++) {
        long long num;
        bool flag;
        if (cfg_check_scalar(e->opt, e->opt->key, items[i], &num, &flag, err) != 0) {
            for (size_t j = 0; j < n; j++)
                free(items[j]);
            free(items);
            return -1;
        }
    }
    cfg_entry_clear(e);
    size_t len = 1;
    for (size_t i = 0; i < n; i++)
        len += strlen(items[i]) + 2;
    e->text = lw_malloc(len);
    e->text[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (i)
            strcat(e->text, ", ");
        strcat(e->text, items[i]);
    }
    e->items = items;
    e->nitems = n;
    e->origin = origin;
    e->set = true;
    return 0;
}

static int cfg_set_map(lw_config_t *cfg, const lw_cfg_opt_t *opt, const char *key,
                       const char *value, const char *origin)
{
    for (size_t i = 0; i < cfg->nmap; i++) {
        if (strcmp(cfg->map[i].key, key) == 0) {
            free(cfg->map[i].value);
            cfg->map[i].value = lw_strdup(value);
            cfg->map[i].origin = origin;
            return 0;
        }
    }
    if (cfg->nmap == cfg->capmap) {
        cfg->capmap = cfg->capmap ? cfg->capmap * 2 : 8;
        cfg->map = lw_realloc(cfg->map, cfg->capmap * sizeof *cfg->map);
    }
    cfg->map[cfg->nmap++] = (cfg_map_entry_t){opt, lw_strdup(key), lw_strdup(value), origin};
    return 0;
}

int lw_config_set(lw_config_t *cfg, const char *key, const char *value, const char *origin,
                  lw_err_t *err)
{
    cfg_entry_t *e = cfg_find(cfg, key);
    if (e == NULL) {
        const lw_cfg_opt_t *mopt = cfg_find_map(cfg, key);
        if (mopt == NULL) {
            lw_err_set(err, &lw_err_config_unknown_key, "unknown configuration key `%s`", key);
            lw_err_attr(err, "key", key);
            return -1;
        }
        return cfg_set_map(cfg, mopt, key, value, origin);
    }
    if (e->opt->type == LW_CFG_LIST) {
        char **items;
        size_t n = cfg_split(value, &items);
        return cfg_set_list(e, items, n, origin, err);
    }
    long long num = 0;
    bool flag = false;
    if (cfg_check_scalar(e->opt, key, value, &num, &flag, err) != 0)
        return -1;
    cfg_entry_clear(e);
    e->text = lw_strdup(value);
    e->num = num;
    e->flag = flag;
    e->origin = origin;
    e->set = true;
    return 0;
}

int lw_config_register(lw_config_t *cfg, const char *module, const lw_cfg_opt_t *opts, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (cfg_find(cfg, opts[i].key) != NULL)
            continue; /* registered twice (two components sharing a table) */
        if (cfg->n == cfg->cap) {
            cfg->cap = cfg->cap ? cfg->cap * 2 : 32;
            cfg->entries = lw_realloc(cfg->entries, cfg->cap * sizeof *cfg->entries);
        }
        cfg->entries[cfg->n++] = (cfg_entry_t){.opt = &opts[i], .module = module};
        if (opts[i].def != NULL && !cfg_is_map(&opts[i])) {
            lw_err_t err;
            if (lw_config_set(cfg, opts[i].key, opts[i].def, "default", &err) != 0) {
                /* A default that fails its own validation is a programming error. */
                fprintf(stderr, "lwstack: bad default for %s: %s\n", opts[i].key, err.message);
                abort();
            }
        }
    }
    return 0;
}

/* ---- YAML ---------------------------------------------------------------------------- */

static int cfg_yaml_node(lw_config_t *cfg, yaml_document_t *doc, yaml_node_t *node,
                         const char *prefix, const char *origin, lw_err_t *err);

/* A mapping: each value under key prefix.key. Pass-through maps ("bus.kafka") recurse the
 * same way, so their nested keys arrive verbatim ("bus.kafka.sasl.username"). */
static int cfg_yaml_mapping(lw_config_t *cfg, yaml_document_t *doc, yaml_node_t *node,
                            const char *prefix, const char *origin, lw_err_t *err)
{
    char key[256];
    for (yaml_node_pair_t *p = node->data.mapping.pairs.start; p < node->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key);
        yaml_node_t *v = yaml_document_get_node(doc, p->value);
        if (k == NULL || v == NULL || k->type != YAML_SCALAR_NODE)
            return lw_err_set(err, &lw_err_config_file, "%s: mapping keys must be scalars", origin);
        snprintf(key, sizeof key, "%s%s%s", prefix, *prefix ? "." : "",
                 (const char *)k->data.scalar.value);
        if (cfg_yaml_node(cfg, doc, v, key, origin, err) != 0)
            return -1;
    }
    return 0;
}

/* A sequence: the value of list key `prefix`, every item a scalar. */
static int cfg_yaml_sequence(lw_config_t *cfg, yaml_document_t *doc, yaml_node_t *node,
                             const char *prefix, const char *origin, lw_err_t *err)
{
    cfg_entry_t *e = cfg_find(cfg, prefix);
    if (e == NULL) {
        lw_err_set(err, &lw_err_config_unknown_key, "unknown configuration key `%s`", prefix);
        lw_err_attr(err, "key", prefix);
        return -1;
    }
    if (e->opt->type != LW_CFG_LIST)
        return cfg_invalid(err, e->opt, prefix, "[...]", "a list is not allowed here");
    size_t n = 0;
    size_t count = (size_t)(node->data.sequence.items.top - node->data.sequence.items.start);
    char **items = lw_calloc(count ? count : 1, sizeof *items);
    for (yaml_node_item_t *it = node->data.sequence.items.start; it < node->data.sequence.items.top;
         it++) {
        yaml_node_t *v = yaml_document_get_node(doc, *it);
        if (v == NULL || v->type != YAML_SCALAR_NODE) {
            for (size_t j = 0; j < n; j++)
                free(items[j]);
            free(items);
            return cfg_invalid(err, e->opt, prefix, "[...]", "list items must be scalars");
        }
        items[n++] = lw_strdup((const char *)v->data.scalar.value);
    }
    return cfg_set_list(e, items, n, origin, err);
}

static int cfg_yaml_node(lw_config_t *cfg, yaml_document_t *doc, yaml_node_t *node,
                         const char *prefix, const char *origin, lw_err_t *err)
{
    switch (node->type) {
    case YAML_MAPPING_NODE:
        return cfg_yaml_mapping(cfg, doc, node, prefix, origin, err);
    case YAML_SEQUENCE_NODE:
        return cfg_yaml_sequence(cfg, doc, node, prefix, origin, err);
    case YAML_SCALAR_NODE:
        return lw_config_set(cfg, prefix, (const char *)node->data.scalar.value, origin, err);
    default:
        return 0;
    }
}

int lw_config_load_yaml(lw_config_t *cfg, const char *text, size_t len, const char *origin,
                        lw_err_t *err)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    int rc = -1;
    if (!yaml_parser_initialize(&parser))
        return lw_err_set(err, &lw_err_internal, "cannot initialise the YAML parser");
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        lw_err_set(err, &lw_err_config_file, "%s: YAML error at line %zu column %zu: %s", origin,
                   parser.problem_mark.line + 1, parser.problem_mark.column + 1,
                   parser.problem ? parser.problem : "syntax error");
        lw_err_attr(err, "file", origin);
        yaml_parser_delete(&parser);
        return -1;
    }
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root == NULL) {
        rc = 0; /* empty file */
    } else if (root->type != YAML_MAPPING_NODE) {
        lw_err_set(err, &lw_err_config_file, "%s: the top level must be a mapping of keys", origin);
        lw_err_attr(err, "file", origin);
    } else {
        rc = cfg_yaml_node(cfg, &doc, root, "", "file", err);
        if (rc != 0)
            lw_err_prefix(err, "%s", origin);
    }
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return rc;
}

int lw_config_load_file(lw_config_t *cfg, const char *path, lw_err_t *err)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        lw_err_set(err, &lw_err_config_file, "cannot read configuration file `%s`: %s", path,
                   strerror(errno));
        lw_err_attr(err, "file", path);
        return -1;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 > cap) {
            cap = cap ? cap * 2 : 8192;
            if (cap > (1u << 24)) {
                free(buf);
                fclose(f);
                return lw_err_set(err, &lw_err_config_file, "`%s` is larger than 16 MiB", path);
            }
            buf = lw_realloc(buf, cap);
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        if (n == 0)
            break;
        len += n;
    }
    fclose(f);
    int rc = lw_config_load_yaml(cfg, buf ? buf : "", len, path, err);
    free(buf);
    return rc;
}

/* ---- environment and flags -------------------------------------------------------------- */

void lw_config_env_name(const char *key, char *buf, size_t len)
{
    size_t pos = (size_t)snprintf(buf, len, "LWSTACK_");
    for (const char *p = key; *p && pos + 1 < len; p++)
        buf[pos++] = (*p == '.' || *p == '-') ? '_' : (char)toupper((unsigned char)*p);
    buf[pos < len ? pos : len - 1] = '\0';
}

/* The environment name of a pass-through map's prefix: "bus.kafka.*" → LWSTACK_BUS_KAFKA. */
static void cfg_map_env_name(const lw_cfg_opt_t *map, char *buf, size_t len)
{
    char prefix[128];
    snprintf(prefix, sizeof prefix, "%.*s", (int)(strlen(map->key) - 2), map->key);
    lw_config_env_name(prefix, buf, len);
}

int lw_config_load_env(lw_config_t *cfg, char *const *envp, lw_err_t *err)
{
    for (char *const *ep = envp; ep != NULL && *ep != NULL; ep++) {
        if (strncmp(*ep, "LWSTACK_", 8) != 0)
            continue;
        const char *eq = strchr(*ep, '=');
        if (eq == NULL)
            continue;
        size_t nlen = (size_t)(eq - *ep);
        const char *value = eq + 1;
        bool matched = false;
        for (size_t i = 0; i < cfg->n && !matched; i++) {
            const lw_cfg_opt_t *opt = cfg->entries[i].opt;
            char name[160];
            if (cfg_is_map(opt)) {
                /* LWSTACK_BUS_KAFKA_SASL_USERNAME → bus.kafka.sasl.username */
                cfg_map_env_name(opt, name, sizeof name);
                size_t plen = strlen(name);
                if (nlen > plen + 1 && strncmp(*ep, name, plen) == 0 && (*ep)[plen] == '_') {
                    char key[256];
                    /* "bus.kafka.*" without its "*" */
                    size_t pos = (size_t)snprintf(key, sizeof key, "%.*s",
                                                  (int)(strlen(opt->key) - 1), opt->key);
                    for (const char *p = *ep + plen + 1; p < eq && pos + 1 < sizeof key; p++)
                        key[pos++] = *p == '_' ? '.' : (char)tolower((unsigned char)*p);
                    key[pos] = '\0';
                    if (lw_config_set(cfg, key, value, "env", err) != 0)
                        return -1;
                    matched = true;
                }
                continue;
            }
            lw_config_env_name(opt->key, name, sizeof name);
            if (strlen(name) == nlen && strncmp(*ep, name, nlen) == 0) {
                if (lw_config_set(cfg, opt->key, value, "env", err) != 0) {
                    lw_err_prefix(err, "environment variable %s", name);
                    return -1;
                }
                matched = true;
            }
        }
    }
    return 0;
}

int lw_config_parse_flags(lw_config_t *cfg, int *argc, char **argv, lw_err_t *err)
{
    int out = 1;
    for (int i = 1; i < *argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
            argv[out++] = argv[i];
            continue;
        }
        char key[256];
        const char *eq = strchr(a, '=');
        const char *value = NULL;
        if (eq != NULL) {
            snprintf(key, sizeof key, "%.*s", (int)(eq - a - 2), a + 2);
            value = eq + 1;
        } else {
            snprintf(key, sizeof key, "%s", a + 2);
        }
        const lw_cfg_opt_t *opt = lw_config_opt(cfg, key);
        if (opt == NULL) {
            /* Not a configuration key: leave it to the subcommand's own parser. */
            argv[out++] = argv[i];
            continue;
        }
        if (value == NULL) {
            if (opt->type == LW_CFG_BOOL) {
                value = "true";
            } else if (i + 1 < *argc) {
                value = argv[++i];
            } else {
                lw_err_set(err, &lw_err_config_invalid, "flag --%s needs a value", key);
                lw_err_attr(err, "key", key);
                return -1;
            }
        }
        if (lw_config_set(cfg, key, value, "flag", err) != 0)
            return -1;
    }
    argv[out] = NULL;
    *argc = out;
    return 0;
}

/* ---- getters ------------------------------------------------------------------------------ */

static const cfg_entry_t *cfg_get(const lw_config_t *cfg, const char *key, lw_cfg_type_t type)
{
    const cfg_entry_t *e = cfg_find(cfg, key);
    if (e == NULL ||
        (e->opt->type != type && !(type == LW_CFG_STRING && e->opt->type == LW_CFG_ENUM))) {
        fprintf(stderr, "lwstack: configuration key %s read as the wrong type or unregistered\n",
                key);
        abort();
    }
    return e;
}

const char *lw_config_str(const lw_config_t *cfg, const char *key)
{
    const cfg_entry_t *e = cfg_get(cfg, key, LW_CFG_STRING);
    return e->set ? e->text : NULL;
}

long long lw_config_int(const lw_config_t *cfg, const char *key)
{
    const cfg_entry_t *e = cfg_get(cfg, key, LW_CFG_INT);
    return e->set ? e->num : 0;
}

bool lw_config_bool(const lw_config_t *cfg, const char *key)
{
    const cfg_entry_t *e = cfg_get(cfg, key, LW_CFG_BOOL);
    return e->set && e->flag;
}

long long lw_config_duration_ms(const lw_config_t *cfg, const char *key)
{
    const cfg_entry_t *e = cfg_get(cfg, key, LW_CFG_DURATION);
    return e->set ? e->num : 0;
}

const char *const *lw_config_list(const lw_config_t *cfg, const char *key, size_t *n)
{
    const cfg_entry_t *e = cfg_get(cfg, key, LW_CFG_LIST);
    *n = e->set ? e->nitems : 0;
    return (const char *const *)e->items;
}

void lw_config_map_each(const lw_config_t *cfg, const char *prefix,
                        void (*fn)(void *arg, const char *subkey, const char *value), void *arg)
{
    size_t plen = strlen(prefix);
    for (size_t i = 0; i < cfg->nmap; i++) {
        const char *k = cfg->map[i].key;
        if (strncmp(k, prefix, plen) == 0 && k[plen] == '.')
            fn(arg, k + plen + 1, cfg->map[i].value);
    }
}

/* ---- redaction ------------------------------------------------------------------------- */

bool lw_config_name_secret(const char *name)
{
    size_t len = strlen(name);
    return strstr(name, "password") != NULL || strstr(name, "secret") != NULL ||
           strstr(name, "token") != NULL || strstr(name, "jaas") != NULL ||
           strstr(name, ".pem") != NULL || (len >= 4 && strcmp(name + len - 4, ".key") == 0);
}

bool lw_config_secret(const lw_cfg_opt_t *opt, const char *key)
{
    if (opt != NULL && (opt->flags & LW_CFG_SECRET))
        return true;
    return (opt == NULL || cfg_is_map(opt)) && key != NULL && lw_config_name_secret(key);
}

/* The output of lw_config_redact_uri: appends what fits, remembers what did not. */
typedef struct cfg_out {
    char *buf;
    size_t cap, len;
    bool truncated;
} cfg_out_t;

static void cfg_put(cfg_out_t *o, const char *s, size_t n)
{
    size_t room = o->cap - 1 - o->len;
    if (n > room) {
        n = room;
        o->truncated = true;
    }
    memcpy(o->buf + o->len, s, n);
    o->len += n;
    o->buf[o->len] = '\0';
}

static void cfg_puts(cfg_out_t *o, const char *s)
{
    cfg_put(o, s, strlen(s));
}

/* libpq's secret keywords (those its PQconninfoOption marks with dispchar "*"). */
static bool cfg_secret_keyword(const char *k, size_t n)
{
    return (n == 8 && strncasecmp(k, "password", 8) == 0) ||
           (n == 11 && strncasecmp(k, "sslpassword", 11) == 0);
}

/* Where text stops making sense: copies it up to the first `password` followed by '='
 * (blanks allowed), then LW_CONFIG_REDACTED in place of everything after it. */
static void cfg_redact_rest(cfg_out_t *o, const char *s)
{
    for (const char *p = s; *p != '\0'; p++) {
        if (strncasecmp(p, "password", 8) != 0)
            continue;
        const char *q = p + 8;
        while (*q == ' ' || *q == '\t')
            q++;
        if (*q != '=')
            continue;
        cfg_put(o, s, (size_t)(q + 1 - s));
        cfg_puts(o, LW_CONFIG_REDACTED);
        return;
    }
    cfg_puts(o, s);
}

/* Percent-decodes a URI query parameter name (at most 15 bytes, enough for the keywords
 * compared against) into out; returns its length, or 16 when longer. */
static size_t cfg_uri_name(const char *s, size_t n, char out[16])
{
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (j == 15)
            return 16;
        int hi, lo;
        if (s[i] == '%' && i + 2 < n && (hi = lw_hex_digit(s[i + 1])) >= 0 &&
            (lo = lw_hex_digit(s[i + 2])) >= 0) {
            out[j++] = (char)(hi << 4 | lo);
            i += 2;
        } else {
            out[j++] = s[i];
        }
    }
    out[j] = '\0';
    return j;
}

/* scheme://[user[:password]@]host.../path?k=v&k=v */
static void cfg_redact_url(cfg_out_t *o, const char *uri, const char *rest)
{
    cfg_put(o, uri, (size_t)(rest - uri));
    const char *at = strrchr(rest, '@');
    if (at != NULL) {
        const char *colon = memchr(rest, ':', (size_t)(at - rest));
        if (colon != NULL) {
            cfg_put(o, rest, (size_t)(colon + 1 - rest));
            cfg_puts(o, LW_CONFIG_REDACTED);
        } else {
            cfg_put(o, rest, (size_t)(at - rest));
        }
        rest = at;
    }
    const char *q = strchr(rest, '?');
    if (q == NULL) {
        cfg_puts(o, rest);
        return;
    }
    cfg_put(o, rest, (size_t)(q + 1 - rest));
    for (const char *p = q + 1; *p != '\0';) {
        size_t n = strcspn(p, "&");
        const char *eq = memchr(p, '=', n);
        char name[16];
        if (eq != NULL && cfg_secret_keyword(name, cfg_uri_name(p, (size_t)(eq - p), name))) {
            cfg_put(o, p, (size_t)(eq + 1 - p));
            cfg_puts(o, LW_CONFIG_REDACTED);
        } else {
            cfg_put(o, p, n);
        }
        p += n;
        if (*p == '&')
            cfg_put(o, p++, 1);
    }
}

/* keyword = value ... (libpq: blanks around '=', values single-quoted with \' and \\, or
 * bare with backslash escapes). */
static void cfg_redact_keywords(cfg_out_t *o, const char *s)
{
    const char *p = s;
    while (*p != '\0') {
        const char *b = p;
        while (isspace((unsigned char)*p))
            p++;
        cfg_put(o, b, (size_t)(p - b));
        if (*p == '\0')
            return;
        const char *k = p;
        while (*p != '\0' && *p != '=' && !isspace((unsigned char)*p))
            p++;
        size_t klen = (size_t)(p - k);
        const char *e = p;
        while (isspace((unsigned char)*e))
            e++;
        if (*e != '=') { /* not keyword=value: libpq refuses it */
            cfg_redact_rest(o, k);
            return;
        }
        e++;
        while (isspace((unsigned char)*e))
            e++;
        bool secret = cfg_secret_keyword(k, klen);
        const char *v = e;
        if (*v == '\'') {
            for (v++; *v != '\0' && *v != '\''; v++)
                if (*v == '\\' && v[1] != '\0')
                    v++;
            if (*v == '\0') { /* unterminated quote */
                if (secret) {
                    cfg_put(o, k, (size_t)(e - k));
                    cfg_puts(o, LW_CONFIG_REDACTED);
                } else {
                    cfg_redact_rest(o, k);
                }
                return;
            }
            v++;
        } else {
            for (; *v != '\0' && !isspace((unsigned char)*v); v++)
                if (*v == '\\' && v[1] != '\0')
                    v++;
        }
        cfg_put(o, k, (size_t)(e - k));
        if (secret)
            cfg_puts(o, LW_CONFIG_REDACTED);
        else
            cfg_put(o, e, (size_t)(v - e));
        p = v;
    }
}

int lw_config_redact_uri(const char *uri, char *out, size_t cap)
{
    if (out == NULL || cap == 0)
        return -1;
    out[0] = '\0';
    cfg_out_t o = {.buf = out, .cap = cap};
    if (uri == NULL)
        return 0;
    /* A URI starts with a scheme (RFC 3986 §3.1) and "://"; libpq takes postgresql:// and
     * postgres://, but any scheme is redacted the same way. */
    const char *p = uri;
    if (isalpha((unsigned char)*p)) {
        while (isalnum((unsigned char)*p) || *p == '+' || *p == '-' || *p == '.')
            p++;
    }
    if (p != uri && strncmp(p, "://", 3) == 0)
        cfg_redact_url(&o, uri, p + 3);
    else
        cfg_redact_keywords(&o, uri);
    return o.truncated ? -1 : 0;
}

void lw_config_print(const lw_config_t *cfg, void *out)
{
    FILE *f = out;
    for (size_t i = 0; i < cfg->n; i++) {
        const cfg_entry_t *e = &cfg->entries[i];
        if (cfg_is_map(e->opt)) {
            for (size_t j = 0; j < cfg->nmap; j++) {
                const cfg_map_entry_t *m = &cfg->map[j];
                if (m->opt != e->opt)
                    continue;
                fprintf(f, "%s: %s  # %s\n", m->key,
                        lw_config_secret(m->opt, m->key) ? LW_CONFIG_REDACTED : m->value,
                        m->origin);
            }
            continue;
        }
        const char *value = !e->set                                 ? ""
                            : lw_config_secret(e->opt, e->opt->key) ? LW_CONFIG_REDACTED
                                                                    : e->text;
        if (e->opt->type == LW_CFG_LIST && e->set && !(e->opt->flags & LW_CFG_SECRET))
            fprintf(f, "%s: [%s]  # %s\n", e->opt->key, value, e->origin);
        else if (e->opt->type == LW_CFG_STRING && e->set && !(e->opt->flags & LW_CFG_SECRET))
            fprintf(f, "%s: \"%s\"  # %s\n", e->opt->key, value, e->origin);
        else
            fprintf(f, "%s: %s  # %s\n", e->opt->key, value, e->set ? e->origin : "unset");
    }
}

static const char *cfg_type_name(lw_cfg_type_t t)
{
    static const char *const names[] = {"string", "integer", "boolean", "duration",
                                        "list",   "enum",    "map"};
    return names[t];
}

void lw_config_print_docs(const lw_config_t *cfg, void *out)
{
    FILE *f = out;
    fprintf(f, "| key | environment | type | default | description |\n");
    fprintf(f, "| --- | --- | --- | --- | --- |\n");
    for (size_t i = 0; i < cfg->n; i++) {
        const lw_cfg_opt_t *o = cfg->entries[i].opt;
        char env[160];
        if (cfg_is_map(o)) {
            cfg_map_env_name(o, env, sizeof env);
            strncat(env, "_*", sizeof env - strlen(env) - 1);
        } else {
            lw_config_env_name(o->key, env, sizeof env);
        }
        fprintf(f, "| `%s` | `%s` | %s | %s | %s%s |\n", o->key, env, cfg_type_name(o->type),
                o->def && *o->def ? o->def : "", o->help ? o->help : "",
                (o->flags & LW_CFG_SECRET) ? " (secret)" : "");
    }
}
