/* Vendor column mappings: a small YAML file that says how a manufacturer's or another
 * network server's CSV export becomes end devices (README "Vendor CSV mappings"; the
 * shipped ones are in ops/dtc/mappings/). Each file is the format vendor-<id>:
 *
 *   id: kerlink-wanesy              # [a-z0-9-]{1,36}
 *   name: Kerlink Wanesy CSV        # GET /api/v3/edtc/formats (<= 100 characters)
 *   description: ...                # (<= 200 characters)
 *   file_extensions: [.csv]
 *   separator: ","                  # optional: else detected as the-things-stack-csv does
 *   mapping_key: "{devEui}"         # optional: each template's mapping_key
 *   fields:                         # in order; a later field may overwrite an earlier one
 *     - path: ids.dev_eui           # The Things Stack's EndDevice field path
 *       column: devEui              # the value: a column, or
 *       value: "eui-{devEui}"       #   a template of columns, or
 *       const: EU_863_870           #   a constant
 *       type: eui                   # string (default), eui, devaddr, key, uint, int, float,
 *                                   # bool
 *       case: lower                 # string/hex case of the result: lower, upper
 *       byte_order: lsb             # eui/devaddr/key given least significant byte first
 *       pad: 8                      # left-pad with '0' to this many characters first
 *       base: 16                    # uint: the digits' base (10)
 *       scale: 1000000              # uint/float: multiply (units: MHz → Hz)
 *       map: {C: true}              # replace the value; unmapped values take `default`,
 *       default: false              #   or set nothing
 *       when: [dev_addr, "activation=OTAA", "classType!=A"]  # all must hold
 *
 * An empty value sets nothing. The result goes through the-things-stack's reading of an
 * EndDevice (names, enums by name or alias, hex case, zero values), so the field mask is
 * its non-zero leaf paths, as when ttn-lw-migrate's output is converted. Loading is not
 * pure (a file); applying a mapping is vendor_csv.c. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "cluster/mem.h"
#include "dtc/conv_private.h"
#include "dtc/dtc_private.h"
#include "dtc/vendor_private.h"

static void vfield_free(dtc_vfield_t *f)
{
    free(f->path);
    free(f->value);
    free(f->konst);
    for (size_t i = 0; i < f->nmap; i++) {
        free(f->map_from[i]);
        free(f->map_to[i]);
    }
    free(f->map_from);
    free(f->map_to);
    free(f->def);
    for (size_t i = 0; i < f->nwhen; i++)
        free(f->when[i].value);
    free(f->when);
}

void dtc_vendor_map_free(dtc_vendor_map_t *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->nfields; i++)
        vfield_free(&m->fields[i]);
    free(m->fields);
    for (size_t i = 0; i < m->ncols; i++)
        free(m->cols[i]);
    free(m->cols);
    for (size_t i = 0; m->ext[i] != NULL; i++)
        free(m->ext[i]);
    free(m->format_id);
    free(m->name);
    free(m->description);
    free(m->mapping_key);
    free(m);
}

const dtc_format_t *dtc_vendor_map_format(const dtc_vendor_map_t *m)
{
    return &m->format;
}

uint8_t dtc_vendor_map_separator(const dtc_vendor_map_t *m)
{
    return m->separator;
}

typedef struct ld {
    yaml_document_t doc;
    const char *file;
    lw_err_t *err;
    dtc_vendor_map_t *m;
} ld_t;

static int bad(ld_t *l, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int bad(ld_t *l, const yaml_node_t *n, const char *fmt, ...)
{
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    lw_err_set(l->err, &lw_err_vendor_mapping, "vendor mapping `%s` line %zu: %s", l->file,
               n != NULL ? n->start_mark.line + 1 : 0, msg);
    lw_err_attr(l->err, "file", l->file);
    lw_err_attr_num(l->err, "line", n != NULL ? (long long)n->start_mark.line + 1 : 0);
    lw_err_attr(l->err, "message", msg);
    return -1;
}

static const char *scalar(const yaml_node_t *n)
{
    return n != NULL && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* The index of a column name, added when new. */
static size_t col_ref(dtc_vendor_map_t *m, const char *name, size_t n)
{
    for (size_t i = 0; i < m->ncols; i++)
        if (strlen(m->cols[i]) == n && memcmp(m->cols[i], name, n) == 0)
            return i;
    m->cols = lw_realloc(m->cols, (m->ncols + 1) * sizeof *m->cols);
    char *c = lw_malloc(n + 1);
    memcpy(c, name, n);
    c[n] = '\0';
    m->cols[m->ncols] = c;
    return m->ncols++;
}

/* Checks a template's {column} references and registers them. */
static int tmpl_check(ld_t *l, const yaml_node_t *n, const char *t)
{
    for (const char *p = t; *p != '\0'; p++) {
        if (*p == '}')
            return bad(l, n, "unbalanced '}' in `%s`", t);
        if (*p != '{')
            continue;
        const char *e = strchr(p, '}');
        if (e == NULL || e == p + 1)
            return bad(l, n, "bad {column} in `%s`", t);
        col_ref(l->m, p + 1, (size_t)(e - p - 1));
        p = e;
    }
    return 0;
}

static const struct {
    const char *name;
    dtc_vtype_t type;
} types[] = {{"string", DTC_VT_STRING}, {"eui", DTC_VT_EUI},   {"devaddr", DTC_VT_DEVADDR},
             {"key", DTC_VT_KEY},       {"uint", DTC_VT_UINT}, {"int", DTC_VT_INT},
             {"float", DTC_VT_FLOAT},   {"bool", DTC_VT_BOOL}};

static int load_field(ld_t *l, yaml_node_t *n, dtc_vfield_t *f)
{
    if (n->type != YAML_MAPPING_NODE)
        return bad(l, n, "%s", "a field is a mapping (path, column, ...)");
    f->base = 10;
    f->scale = 1;
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(&l->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(&l->doc, p->value);
        const char *key = scalar(k), *val = scalar(v);
        if (key == NULL)
            return bad(l, k, "%s", "a key is not a string");
        if (strcmp(key, "map") == 0) {
            if (v->type != YAML_MAPPING_NODE)
                return bad(l, v, "%s", "map is a mapping of values");
            for (yaml_node_pair_t *q = v->data.mapping.pairs.start; q < v->data.mapping.pairs.top;
                 q++) {
                const char *a = scalar(yaml_document_get_node(&l->doc, q->key));
                const char *b = scalar(yaml_document_get_node(&l->doc, q->value));
                if (a == NULL || b == NULL)
                    return bad(l, v, "%s", "map's keys and values are scalars");
                f->map_from = lw_realloc(f->map_from, (f->nmap + 1) * sizeof *f->map_from);
                f->map_to = lw_realloc(f->map_to, (f->nmap + 1) * sizeof *f->map_to);
                f->map_from[f->nmap] = lw_strdup(a);
                f->map_to[f->nmap] = lw_strdup(b);
                f->nmap++;
            }
            continue;
        }
        if (strcmp(key, "when") == 0) {
            if (v->type != YAML_SEQUENCE_NODE)
                return bad(l, v, "%s", "when is a list of conditions");
            for (yaml_node_item_t *it = v->data.sequence.items.start;
                 it < v->data.sequence.items.top; it++) {
                const char *c = scalar(yaml_document_get_node(&l->doc, *it));
                if (c == NULL || *c == '\0')
                    return bad(l, v, "%s", "a condition is a column, col=value or col!=value");
                f->when = lw_realloc(f->when, (f->nwhen + 1) * sizeof *f->when);
                dtc_vwhen_t *w = &f->when[f->nwhen++];
                memset(w, 0, sizeof *w);
                const char *ne = strstr(c, "!="), *eq = strchr(c, '=');
                if (ne != NULL) {
                    w->op = DTC_VW_NE;
                    w->col = col_ref(l->m, c, (size_t)(ne - c));
                    w->value = lw_strdup(ne + 2);
                } else if (eq != NULL) {
                    w->op = DTC_VW_EQ;
                    w->col = col_ref(l->m, c, (size_t)(eq - c));
                    w->value = lw_strdup(eq + 1);
                } else {
                    w->op = DTC_VW_SET;
                    w->col = col_ref(l->m, c, strlen(c));
                }
            }
            continue;
        }
        if (val == NULL)
            return bad(l, v, "`%s` is a scalar", key);
        if (strcmp(key, "path") == 0) {
            f->path = lw_strdup(val);
        } else if (strcmp(key, "column") == 0) {
            size_t sz = strlen(val) + 3;
            f->value = lw_malloc(sz);
            snprintf(f->value, sz, "{%s}", val);
            col_ref(l->m, val, strlen(val));
        } else if (strcmp(key, "value") == 0) {
            if (tmpl_check(l, v, val) != 0)
                return -1;
            f->value = lw_strdup(val);
        } else if (strcmp(key, "const") == 0) {
            f->konst = lw_strdup(val);
        } else if (strcmp(key, "type") == 0) {
            size_t i;
            for (i = 0; i < sizeof types / sizeof types[0]; i++)
                if (strcmp(val, types[i].name) == 0)
                    break;
            if (i == sizeof types / sizeof types[0])
                return bad(l, v, "unknown type `%s`", val);
            f->type = types[i].type;
        } else if (strcmp(key, "case") == 0) {
            if (strcmp(val, "lower") != 0 && strcmp(val, "upper") != 0)
                return bad(l, v, "case is lower or upper, not `%s`", val);
            f->lower = strcmp(val, "lower") == 0;
            f->upper = !f->lower;
        } else if (strcmp(key, "byte_order") == 0) {
            if (strcmp(val, "lsb") != 0 && strcmp(val, "msb") != 0)
                return bad(l, v, "byte_order is msb or lsb, not `%s`", val);
            f->lsb = strcmp(val, "lsb") == 0;
        } else if (strcmp(key, "pad") == 0) {
            f->pad = atoi(val);
            if (f->pad <= 0 || f->pad > 64)
                return bad(l, v, "pad is 1 to 64, not `%s`", val);
        } else if (strcmp(key, "base") == 0) {
            f->base = atoi(val);
            if (f->base != 10 && f->base != 16)
                return bad(l, v, "base is 10 or 16, not `%s`", val);
        } else if (strcmp(key, "scale") == 0) {
            char *end = NULL;
            f->scale = strtod(val, &end);
            if (end == val || *end != '\0' || f->scale == 0)
                return bad(l, v, "scale is a non-zero number, not `%s`", val);
        } else if (strcmp(key, "default") == 0) {
            f->def = lw_strdup(val);
        } else {
            return bad(l, k, "unknown key `%s` in a field", key);
        }
    }
    if (f->path == NULL || f->path[0] == '\0')
        return bad(l, n, "%s", "a field needs a path");
    if ((f->value != NULL) + (f->konst != NULL) != 1)
        return bad(l, n, "field `%s` needs exactly one of column, value, const", f->path);
    for (const char *p = f->path; *p != '\0'; p++)
        if (!islower((unsigned char)*p) && !isdigit((unsigned char)*p) && *p != '_' && *p != '.')
            return bad(l, n, "bad path `%s`", f->path);
    return 0;
}

static bool id_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 36 || s[0] == '-' || s[n - 1] == '-')
        return false;
    for (size_t i = 0; i < n; i++)
        if (!islower((unsigned char)s[i]) && !isdigit((unsigned char)s[i]) && s[i] != '-')
            return false;
    return true;
}

static bool ext_ok(const char *s)
{
    /* ^(?:\.[a-z0-9]{1,16}){1,2}$ */
    int parts = 0;
    const char *p = s;
    while (*p == '.') {
        p++;
        size_t k = 0;
        while (islower((unsigned char)*p) || isdigit((unsigned char)*p))
            p++, k++;
        if (k < 1 || k > 16)
            return false;
        parts++;
    }
    return *p == '\0' && parts >= 1 && parts <= 2;
}

static int load_root(ld_t *l)
{
    yaml_node_t *root = yaml_document_get_root_node(&l->doc);
    if (root == NULL || root->type != YAML_MAPPING_NODE)
        return bad(l, root, "%s", "the file is a mapping (id, name, fields, ...)");
    dtc_vendor_map_t *m = l->m;
    const char *id = NULL;
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(&l->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(&l->doc, p->value);
        const char *key = scalar(k), *val = scalar(v);
        if (key == NULL)
            return bad(l, k, "%s", "a key is not a string");
        if (strcmp(key, "fields") == 0) {
            if (v->type != YAML_SEQUENCE_NODE)
                return bad(l, v, "%s", "fields is a list");
            size_t cnt = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
            m->fields = lw_calloc(cnt > 0 ? cnt : 1, sizeof *m->fields);
            for (yaml_node_item_t *it = v->data.sequence.items.start;
                 it < v->data.sequence.items.top; it++) {
                if (load_field(l, yaml_document_get_node(&l->doc, *it), &m->fields[m->nfields++]) !=
                    0)
                    return -1;
            }
            continue;
        }
        if (strcmp(key, "file_extensions") == 0) {
            if (v->type != YAML_SEQUENCE_NODE)
                return bad(l, v, "%s", "file_extensions is a list");
            size_t k2 = 0;
            for (yaml_node_item_t *it = v->data.sequence.items.start;
                 it < v->data.sequence.items.top && k2 < 4; it++) {
                const char *e = scalar(yaml_document_get_node(&l->doc, *it));
                if (e == NULL || !ext_ok(e))
                    return bad(l, v, "bad file extension `%s`", e != NULL ? e : "");
                m->ext[k2++] = lw_strdup(e);
            }
            continue;
        }
        if (val == NULL)
            return bad(l, v, "`%s` is a scalar", key);
        if (strcmp(key, "id") == 0) {
            if (!id_ok(val))
                return bad(l, v, "id `%s` is not [a-z0-9-]{1,36}", val);
            id = val;
            size_t sz = strlen(val) + 8;
            m->format_id = lw_malloc(sz);
            snprintf(m->format_id, sz, "vendor-%s", val);
        } else if (strcmp(key, "name") == 0) {
            if (strlen(val) > 100)
                return bad(l, v, "%s", "name is at most 100 characters");
            m->name = lw_strdup(val);
        } else if (strcmp(key, "description") == 0) {
            if (strlen(val) > 200)
                return bad(l, v, "%s", "description is at most 200 characters");
            m->description = lw_strdup(val);
        } else if (strcmp(key, "separator") == 0) {
            if (strlen(val) != 1 || strchr(",;\t|", val[0]) == NULL)
                return bad(l, v, "separator is one of , ; | or a tab, not `%s`", val);
            m->separator = (uint8_t)val[0];
        } else if (strcmp(key, "mapping_key") == 0) {
            if (tmpl_check(l, v, val) != 0)
                return -1;
            m->mapping_key = lw_strdup(val);
        } else {
            return bad(l, k, "unknown key `%s`", key);
        }
    }
    if (id == NULL || m->name == NULL || m->nfields == 0)
        return bad(l, root, "%s", "id, name and fields are required");
    if (m->description == NULL)
        m->description = lw_strdup("");
    if (m->ext[0] == NULL)
        m->ext[0] = lw_strdup(".csv");
    m->format.id = m->format_id;
    m->format.name = m->name;
    m->format.description = m->description;
    m->format.file_extensions = (const char *const *)m->ext;
    return 0;
}

dtc_vendor_map_t *dtc_vendor_map_parse(const char *text, size_t n, const char *name, lw_err_t *err)
{
    yaml_parser_t p;
    ld_t l = {.file = name, .err = err, .m = lw_calloc(1, sizeof(dtc_vendor_map_t))};
    yaml_parser_initialize(&p);
    yaml_parser_set_input_string(&p, (const unsigned char *)text, n);
    if (!yaml_parser_load(&p, &l.doc)) {
        lw_err_set(err, &lw_err_vendor_mapping, "vendor mapping `%s` line %zu: %s", name,
                   p.problem_mark.line + 1, p.problem != NULL ? p.problem : "bad YAML");
        lw_err_attr(err, "file", name);
        lw_err_attr_num(err, "line", (long long)p.problem_mark.line + 1);
        lw_err_attr(err, "message", p.problem != NULL ? p.problem : "bad YAML");
        yaml_parser_delete(&p);
        dtc_vendor_map_free(l.m);
        return NULL;
    }
    int rc = load_root(&l);
    yaml_document_delete(&l.doc);
    yaml_parser_delete(&p);
    if (rc != 0) {
        dtc_vendor_map_free(l.m);
        return NULL;
    }
    return l.m;
}

dtc_vendor_map_t *dtc_vendor_map_load(const char *path, lw_err_t *err)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        lw_err_set(err, &lw_err_vendor_mapping, "vendor mapping `%s`: cannot be read", path);
        lw_err_attr(err, "file", path);
        return NULL;
    }
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n + 4096 > cap) {
            cap = cap == 0 ? 8192 : cap * 2;
            if (cap > (1u << 20)) {
                fclose(f);
                free(buf);
                lw_err_set(err, &lw_err_vendor_mapping, "vendor mapping `%s`: larger than 1 MiB",
                           path);
                lw_err_attr(err, "file", path);
                return NULL;
            }
            buf = lw_realloc(buf, cap);
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0)
            break;
    }
    fclose(f);
    const char *base = strrchr(path, '/');
    dtc_vendor_map_t *m = dtc_vendor_map_parse(buf, n, base != NULL ? base + 1 : path, err);
    free(buf);
    return m;
}
