/* Schema migrations (migrate.h): loading NNNN_name.sql files, `lwstack migrate` (blocking,
 * under an advisory lock) and the per-tenant steps run inside the pool's transactions.
 *
 * Bookkeeping: lw_control.schema_migrations holds one row per (schema, version) applied.
 * The advisory lock serialises `lwstack migrate` runs; tenant creation and purge take the
 * same lock in shared mode for their transaction, so a migration run sees every tenant
 * schema committed before it started and none is created half-way through it. */
#include "cluster/migrate.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cluster/log.h"
#include "cluster/mem.h"

/* "lwmigrat" as a big-endian 64-bit integer: the key of pg_advisory_lock. */
#define MIGRATE_LOCK_KEY "7815835977799328116"

#define MIGRATE_CONTROL_SCHEMA    "lw_control"
#define MIGRATE_MAX_FILE_BYTES    (16u * 1024u * 1024u)
#define MIGRATE_MAX_FILES         10000
#define MIGRATE_MAX_SCHEMA_LEN    63 /* PostgreSQL's NAMEDATALEN - 1 */
#define MIGRATE_MAX_COMPONENT_LEN 32

/* The bookkeeping table. `component` came with per-component tenant migrations: a table
 * made by an older lwstack (no component column, key (schema_name, version)) is brought to
 * the same shape here, once, and its rows keep component '' (see migrate_match). */
static const char migrate_bootstrap_sql[] =
    "CREATE SCHEMA IF NOT EXISTS lw_control;\n"
    "CREATE TABLE IF NOT EXISTS lw_control.schema_migrations (\n"
    "    schema_name text NOT NULL,\n"
    "    kind text NOT NULL CHECK (kind IN ('control', 'tenant')),\n"
    "    version integer NOT NULL CHECK (version > 0),\n"
    "    name text NOT NULL,\n"
    "    applied_at timestamptz NOT NULL DEFAULT now(),\n"
    "    component text NOT NULL DEFAULT '',\n"
    "    PRIMARY KEY (schema_name, component, version)\n"
    ");\n"
    "DO $$\n"
    "BEGIN\n"
    "    IF NOT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = "
    "'lw_control' AND table_name = 'schema_migrations' AND column_name = 'component') THEN\n"
    "        ALTER TABLE lw_control.schema_migrations\n"
    "            ADD COLUMN component text NOT NULL DEFAULT '',\n"
    "            DROP CONSTRAINT schema_migrations_pkey,\n"
    "            ADD PRIMARY KEY (schema_name, component, version);\n"
    "    END IF;\n"
    "END\n"
    "$$;\n";

static const char migrate_insert_sql[] =
    "INSERT INTO lw_control.schema_migrations (schema_name, kind, component, version, name) "
    "VALUES ($1, $2, $3, $4::integer, $5)";

/* ---- loading ----------------------------------------------------------------------------- */

/* A file's name is its path under kind/: "0001_x.sql", or "is/0001_x.sql" in the folder of
 * component `is`. These take it apart. */
static const char *migrate_file(const lw_migration_t *m)
{
    const char *slash = strchr(m->name, '/');
    return slash != NULL ? slash + 1 : m->name;
}

static size_t migrate_component_len(const lw_migration_t *m)
{
    const char *slash = strchr(m->name, '/');
    return slash != NULL ? (size_t)(slash - m->name) : 0;
}

/* The component into buf ("" for none; cut to the buffer). */
static const char *migrate_component(const lw_migration_t *m, char *buf, size_t len)
{
    size_t n = migrate_component_len(m);
    n = n < len ? n : len - 1;
    memcpy(buf, m->name, n);
    buf[n] = '\0';
    return buf;
}

static bool migrate_component_is(const lw_migration_t *m, const char *component)
{
    size_t n = migrate_component_len(m);
    return strlen(component) == n && memcmp(m->name, component, n) == 0;
}

static int migrate_component_cmp(const lw_migration_t *x, const lw_migration_t *y)
{
    size_t nx = migrate_component_len(x), ny = migrate_component_len(y);
    int c = memcmp(x->name, y->name, nx < ny ? nx : ny);
    return c != 0 ? c : (nx > ny) - (nx < ny);
}

/* Parses "NNNN_name.sql" (four digits, an underscore, then lowercase letters, digits,
 * underscores or dashes). Returns the version (>= 1) or -1. */
static int migrate_parse_name(const char *name)
{
    size_t len = strlen(name);
    if (len < 10 || strcmp(name + len - 4, ".sql") != 0 || name[4] != '_')
        return -1;
    int v = 0;
    for (int i = 0; i < 4; i++) {
        if (name[i] < '0' || name[i] > '9')
            return -1;
        v = v * 10 + (name[i] - '0');
    }
    for (size_t i = 5; i < len - 4; i++) {
        char ch = name[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' || ch == '-'))
            return -1;
    }
    return v >= 1 ? v : -1;
}

/* A component folder of migrations/tenant/ is named as the component is on `lwstack start`:
 * a lowercase letter, then lowercase letters and digits. */
static bool migrate_component_name_ok(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len > MIGRATE_MAX_COMPONENT_LEN || name[0] < 'a' || name[0] > 'z')
        return false;
    for (size_t i = 1; i < len; i++)
        if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9')))
            return false;
    return true;
}

/* The order files are applied in (migrate.h): by number, then component ("" first), then
 * name so that two files colliding on a number are reported in a stable order. */
static int migrate_cmp(const void *a, const void *b)
{
    const lw_migration_t *x = a, *y = b;
    if (x->version != y->version)
        return (x->version > y->version) - (x->version < y->version);
    int c = migrate_component_cmp(x, y);
    return c != 0 ? c : strcmp(x->name, y->name);
}

static char *migrate_read_file(const char *path, const char *shown, lw_err_t *err)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        lw_err_set(err, &lw_err_migration_failed, "migrations: cannot read %s: %s", shown,
                   strerror(errno));
        lw_err_attr(err, "file", shown);
        return NULL;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            cap = cap == 0 ? 8192 : cap * 2;
            if (cap > MIGRATE_MAX_FILE_BYTES + 1) {
                lw_err_set(err, &lw_err_migration_failed, "migrations: %s is larger than %u bytes",
                           shown, MIGRATE_MAX_FILE_BYTES);
                lw_err_attr(err, "file", shown);
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = lw_realloc(buf, cap);
        }
        size_t n = fread(buf + len, 1, cap - len - 1, f);
        len += n;
        if (n == 0)
            break;
    }
    bool bad = ferror(f) != 0;
    fclose(f);
    if (bad) {
        lw_err_set(err, &lw_err_migration_failed, "migrations: cannot read %s", shown);
        lw_err_attr(err, "file", shown);
        free(buf);
        return NULL;
    }
    buf[len] = '\0';
    if (strlen(buf) != len) {
        lw_err_set(err, &lw_err_migration_failed, "migrations: %s contains a NUL byte", shown);
        lw_err_attr(err, "file", shown);
        free(buf);
        return NULL;
    }
    return buf;
}

static void migrate_free_list(lw_migration_t *list, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free((char *)list[i].name);
        free((char *)list[i].sql);
    }
    free(list);
}

/* A list being loaded. */
typedef struct migrate_list {
    const char *kind;
    lw_migration_t *v;
    size_t n, cap;
} migrate_list_t;

/* Appends the file `full` (shown as `shown`, kind/ then its name) to l. */
static int migrate_list_add(migrate_list_t *l, const char *full, const char *shown, int version,
                            lw_err_t *err)
{
    if (l->n >= MIGRATE_MAX_FILES)
        return lw_err_set(err, &lw_err_migration_failed, "migrations: more than %d files in %s/",
                          MIGRATE_MAX_FILES, l->kind);
    struct stat st;
    if (stat(full, &st) != 0 || !S_ISREG(st.st_mode)) {
        lw_err_set(err, &lw_err_migration_failed, "migrations: %s is not a regular file", shown);
        lw_err_attr(err, "file", shown);
        return -1;
    }
    if (l->n == l->cap) {
        size_t cap = l->cap == 0 ? 16 : l->cap * 2;
        l->v = lw_realloc(l->v, cap * sizeof *l->v);
        l->cap = cap;
    }
    char *sql = migrate_read_file(full, shown, err);
    if (sql == NULL)
        return -1;
    char *nm = lw_strdup(shown + strlen(l->kind) + 1);
    l->v[l->n++] = (lw_migration_t){version, nm, sql};
    return 0;
}

/* Loads the .sql files of `path` (shown as kind/[component/]) into l; with `subfolders`,
 * also each component folder in it. A missing folder adds nothing. */
static int migrate_load_dir(migrate_list_t *l, const char *path, const char *component,
                            bool subfolders, lw_err_t *err)
{
    DIR *d = opendir(path);
    if (d == NULL) {
        if (errno == ENOENT)
            return 0;
        return lw_err_set(err, &lw_err_migration_failed, "migrations: cannot open %s: %s", path,
                          strerror(errno));
    }
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        const char *name = e->d_name;
        size_t len = strlen(name);
        char full[4400], shown[300];
        snprintf(full, sizeof full, "%s/%s", path, name);
        snprintf(shown, sizeof shown, "%s/%s%s%s", l->kind, component,
                 component[0] != '\0' ? "/" : "", name);
        if (name[0] == '.')
            continue;
        struct stat st;
        bool is_dir = stat(full, &st) == 0 && S_ISDIR(st.st_mode);
        if (subfolders && is_dir && (len < 4 || strcmp(name + len - 4, ".sql") != 0)) {
            if (!migrate_component_name_ok(name)) {
                lw_err_set(err, &lw_err_migration_failed,
                           "migrations: %s/ is not named as a component (a lowercase letter, "
                           "then lowercase letters and digits, at most %d)",
                           shown, MIGRATE_MAX_COMPONENT_LEN);
                lw_err_attr(err, "file", shown);
                rc = -1;
                break;
            }
            rc = migrate_load_dir(l, full, name, false, err);
            continue;
        }
        /* Other files (README.md, editor backups) and folders are not migrations; anything
         * ending in .sql must be named properly. */
        if (len < 4 || strcmp(name + len - 4, ".sql") != 0)
            continue;
        int version = migrate_parse_name(name);
        if (version < 0) {
            lw_err_set(err, &lw_err_migration_failed,
                       "migrations: %s is not named NNNN_name.sql (four digits from 0001, an "
                       "underscore, then lowercase letters, digits, '_' or '-')",
                       shown);
            lw_err_attr(err, "file", shown);
            rc = -1;
            break;
        }
        rc = migrate_list_add(l, full, shown, version, err);
    }
    closedir(d);
    return rc;
}

/* Sorts l into the order of application and refuses two files of one component with one
 * number, naming both. */
static int migrate_list_finish(migrate_list_t *l, lw_err_t *err)
{
    if (l->n > 1)
        qsort(l->v, l->n, sizeof *l->v, migrate_cmp);
    for (size_t i = 1; i < l->n; i++) {
        const lw_migration_t *a = &l->v[i - 1], *b = &l->v[i];
        if (a->version != b->version || migrate_component_cmp(a, b) != 0)
            continue;
        char pb[300];
        snprintf(pb, sizeof pb, "%s/%s", l->kind, b->name);
        lw_err_set(err, &lw_err_migration_failed,
                   "migrations: %s/%s and %s have the same version %d", l->kind, a->name, pb,
                   b->version);
        lw_err_attr(err, "file", pb);
        return -1;
    }
    return 0;
}

/* Loads dir/kind/ (and, for tenant, its component folders) into *list. */
static int migrate_load_kind(const char *dir, const char *kind, lw_migration_t **list, size_t *n,
                             lw_err_t *err)
{
    migrate_list_t l = {.kind = kind};
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, kind);
    int rc = migrate_load_dir(&l, path, "", strcmp(kind, "tenant") == 0, err);
    if (rc == 0)
        rc = migrate_list_finish(&l, err);
    if (rc != 0) {
        migrate_free_list(l.v, l.n);
        l.v = NULL;
        l.n = 0;
    }
    *list = l.v;
    *n = l.n;
    return rc;
}

int lw_migrations_load(const char *dir, lw_migration_set_t *out, lw_err_t *err)
{
    memset(out, 0, sizeof *out);
    struct stat st;
    if (dir == NULL || stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        lw_err_set(err, &lw_err_migration_failed, "migrations: %s is not a folder",
                   dir != NULL ? dir : "(null)");
        return -1;
    }
    char c[4096], t[4096];
    snprintf(c, sizeof c, "%s/control", dir);
    snprintf(t, sizeof t, "%s/tenant", dir);
    if (stat(c, &st) != 0 && stat(t, &st) != 0) {
        lw_err_set(err, &lw_err_migration_failed,
                   "migrations: %s has neither a control/ nor a tenant/ folder", dir);
        return -1;
    }
    if (migrate_load_kind(dir, "control", &out->control, &out->n_control, err) != 0)
        return -1;
    if (migrate_load_kind(dir, "tenant", &out->tenant, &out->n_tenant, err) != 0) {
        migrate_free_list(out->control, out->n_control);
        memset(out, 0, sizeof *out);
        return -1;
    }
    out->owned = out; /* marks storage to free; the lists are freed one by one */
    return 0;
}

void lw_migrations_free(lw_migration_set_t *set)
{
    if (set == NULL || set->owned == NULL)
        return;
    migrate_free_list(set->control, set->n_control);
    migrate_free_list(set->tenant, set->n_tenant);
    memset(set, 0, sizeof *set);
}

/* ---- messages ------------------------------------------------------------------------------ */

/* Line of a 1-based character position in an SQL text (PG_DIAG_STATEMENT_POSITION counts
 * characters, not bytes). */
static int migrate_line_of(const char *sql, const char *pos_text)
{
    if (pos_text == NULL)
        return 0;
    long pos = strtol(pos_text, NULL, 10);
    if (pos <= 0)
        return 0;
    int line = 1;
    long chars = 0;
    for (const unsigned char *p = (const unsigned char *)sql; *p != '\0'; p++) {
        if ((*p & 0xC0) == 0x80)
            continue; /* UTF-8 continuation byte */
        if (++chars >= pos)
            break;
        if (*p == '\n')
            line++;
    }
    return line;
}

static void migrate_fail(lw_err_t *err, const char *kind, const lw_migration_t *m,
                         const char *schema, const char *why)
{
    char file[300];
    snprintf(file, sizeof file, "%s/%s", kind, m->name);
    lw_err_set(err, &lw_err_migration_failed, "migration %s failed on schema %s: %s", file, schema,
               why);
    lw_err_attr(err, "file", file);
    lw_err_attr(err, "schema", schema);
}

/* "SQL error (line N)" from a failed result. */
static void migrate_sql_error(const PGresult *res, PGconn *pg, const char *sql, char *buf,
                              size_t len)
{
    const char *primary = res != NULL ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    const char *msg = primary != NULL ? primary : PQerrorMessage(pg);
    size_t j = 0;
    for (size_t i = 0; msg[i] != '\0' && j + 1 < len; i++)
        buf[j++] = msg[i] == '\n' ? ' ' : msg[i];
    while (j > 0 && buf[j - 1] == ' ')
        j--;
    buf[j] = '\0';
    int line = sql != NULL && res != NULL
                   ? migrate_line_of(sql, PQresultErrorField(res, PG_DIAG_STATEMENT_POSITION))
                   : 0;
    if (line > 0 && j + 1 < len)
        snprintf(buf + j, len - j, " (line %d)", line);
}

/* ---- blocking run ---------------------------------------------------------------------------- */

/* Runs one statement; on failure writes the SQL error into why. */
static int migrate_exec(PGconn *pg, const char *sql, int nparams, const char *const *params,
                        PGresult **out, char *why, size_t why_len)
{
    PGresult *res = nparams > 0 || out != NULL
                        ? PQexecParams(pg, sql, nparams, NULL, params, NULL, NULL, 0)
                        : PQexec(pg, sql);
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_EMPTY_QUERY) {
        migrate_sql_error(res, pg, NULL, why, why_len);
        PQclear(res);
        return -1;
    }
    if (out != NULL)
        *out = res;
    else
        PQclear(res);
    return 0;
}

typedef struct migrate_applied {
    const char *component; /* '' for rows recorded before component folders */
    int version;
    const char *name;
} migrate_applied_t;

/* The file a recorded row stands for, or NULL. A row matches the file of its component and
 * version. A row recorded before component folders existed (component '') whose version no
 * longer has a file directly in kind/ matches the one component file with its version and
 * file name: the file was moved into its component's folder, which keeps it applied. Two
 * such files make it ambiguous: *ambiguous is set and NULL returned. */
static const lw_migration_t *migrate_match(const lw_migration_t *files, size_t n,
                                           const migrate_applied_t *a, bool *ambiguous)
{
    const lw_migration_t *moved = NULL;
    *ambiguous = false;
    for (size_t i = 0; i < n; i++) {
        if (files[i].version != a->version)
            continue;
        if (migrate_component_is(&files[i], a->component))
            return &files[i];
        if (a->component[0] == '\0' && strcmp(migrate_file(&files[i]), a->name) == 0) {
            *ambiguous = *ambiguous || moved != NULL;
            moved = &files[i];
        }
    }
    return *ambiguous ? NULL : moved;
}

/* Checks a schema's recorded history against the files and marks in done[] the files that
 * are applied, or returns -1 with err when the history does not match: a recorded version
 * without its file, a renamed file, or a gap within one component (a pending file older
 * than an applied one of the same component: applying it now would run that component's
 * migrations out of order). Across components pending files run in the order of the list,
 * whatever is applied. */
static int migrate_check_history(const char *kind, const char *schema, const lw_migration_t *files,
                                 size_t n, const migrate_applied_t *applied, size_t napplied,
                                 bool *done, lw_err_t *err)
{
    for (size_t a = 0; a < napplied; a++) {
        const migrate_applied_t *r = &applied[a];
        bool ambiguous;
        const lw_migration_t *f = migrate_match(files, n, r, &ambiguous);
        char where[64], shown[300];
        snprintf(where, sizeof where, "%s%s%s", kind, r->component[0] != '\0' ? "/" : "",
                 r->component);
        snprintf(shown, sizeof shown, "%s/%s", where, r->name);
        if (f == NULL) {
            lw_err_set(err, &lw_err_migration_failed,
                       "migration history of schema %s does not match the files: version %d "
                       "(%s) is applied but there is %s %s file with that version",
                       schema, r->version, shown, ambiguous ? "more than one" : "no",
                       ambiguous ? kind : where);
            lw_err_attr(err, "schema", schema);
            return -1;
        }
        if (strcmp(migrate_file(f), r->name) != 0) {
            lw_err_set(err, &lw_err_migration_failed,
                       "migration history of schema %s does not match the files: version %d "
                       "was applied as %s but the file is now %s/%s",
                       schema, r->version, shown, kind, f->name);
            lw_err_attr(err, "schema", schema);
            lw_err_attr(err, "file", f->name);
            return -1;
        }
        done[f - files] = true;
    }
    /* The list is in (version, component) order, so each component's files are met in
     * version order: a pending file followed by an applied one of its component is a gap. */
    for (size_t i = 0; i < n; i++) {
        if (done[i])
            continue;
        for (size_t j = i + 1; j < n; j++) {
            if (!done[j] || migrate_component_cmp(&files[i], &files[j]) != 0)
                continue;
            lw_err_set(err, &lw_err_migration_failed,
                       "migration %s/%s is pending on schema %s but the later version %d (%s) is "
                       "already applied; refusing to apply out of order",
                       kind, files[i].name, schema, files[j].version, migrate_file(&files[j]));
            lw_err_attr(err, "schema", schema);
            lw_err_attr(err, "file", files[i].name);
            return -1;
        }
    }
    return 0;
}

/* Reads the recorded history of one schema and marks the applied files in done[]. */
static int migrate_read_history(PGconn *pg, const char *kind, const char *schema,
                                const lw_migration_t *files, size_t n, bool *done, lw_err_t *err)
{
    char why[400];
    const char *p1[] = {schema, kind};
    PGresult *res = NULL;
    if (migrate_exec(pg,
                     "SELECT component, version, name FROM lw_control.schema_migrations "
                     "WHERE schema_name = $1 AND kind = $2 ORDER BY component, version",
                     2, p1, &res, why, sizeof why) != 0)
        return lw_err_set(err, &lw_err_migration_failed,
                          "migrations: cannot read the versions of schema %s: %s", schema, why);
    size_t napplied = (size_t)PQntuples(res);
    migrate_applied_t *applied = lw_calloc(napplied + 1, sizeof *applied);
    for (size_t i = 0; i < napplied; i++) {
        applied[i].component = PQgetvalue(res, (int)i, 0);
        applied[i].version = atoi(PQgetvalue(res, (int)i, 1));
        applied[i].name = PQgetvalue(res, (int)i, 2);
    }
    int rc = migrate_check_history(kind, schema, files, n, applied, napplied, done, err);
    free(applied);
    PQclear(res);
    return rc;
}

/* Applies one file to a schema in its own transaction, with its version row. */
static int migrate_apply(PGconn *pg, const char *kind, const char *schema, const char *set_path,
                         const lw_migration_t *m, lw_err_t *err)
{
    char why[400];
    if (migrate_exec(pg, "BEGIN", 0, NULL, NULL, why, sizeof why) != 0 ||
        migrate_exec(pg, set_path, 0, NULL, NULL, why, sizeof why) != 0) {
        migrate_fail(err, kind, m, schema, why);
        goto fail;
    }
    PGresult *res = PQexec(pg, m->sql);
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_EMPTY_QUERY) {
        migrate_sql_error(res, pg, m->sql, why, sizeof why);
        PQclear(res);
        migrate_fail(err, kind, m, schema, why);
        goto fail;
    }
    PQclear(res);
    if (PQtransactionStatus(pg) != PQTRANS_INTRANS) {
        migrate_fail(err, kind, m, schema,
                     "the file ended the transaction itself (COMMIT or ROLLBACK is not "
                     "allowed in a migration)");
        goto fail;
    }
    char version[16], component[MIGRATE_MAX_COMPONENT_LEN + 1];
    snprintf(version, sizeof version, "%d", m->version);
    const char *p[] = {schema, kind, migrate_component(m, component, sizeof component), version,
                       migrate_file(m)};
    if (migrate_exec(pg, migrate_insert_sql, 5, p, NULL, why, sizeof why) != 0 ||
        migrate_exec(pg, "COMMIT", 0, NULL, NULL, why, sizeof why) != 0) {
        migrate_fail(err, kind, m, schema, why);
        goto fail;
    }
    return 0;
fail:
    PQclear(PQexec(pg, "ROLLBACK"));
    return -1;
}

/* Applies the pending files of one schema. Returns the number applied, or -1. */
static int migrate_schema(PGconn *pg, const char *kind, const char *schema,
                          const lw_migration_t *files, size_t n, FILE *log, lw_err_t *err)
{
    bool *done = lw_calloc(n + 1, sizeof *done);
    int applied_now = -1;
    char quoted[2 * MIGRATE_MAX_SCHEMA_LEN + 3];
    char set_path[sizeof quoted + 40];
    if (migrate_read_history(pg, kind, schema, files, n, done, err) != 0)
        goto out;
    if (lw_db_quote_ident(schema, quoted, sizeof quoted) != 0) {
        lw_err_set(err, &lw_err_migration_failed, "migrations: schema name %s is too long", schema);
        goto out;
    }
    snprintf(set_path, sizeof set_path, "SET LOCAL search_path TO %s", quoted);
    applied_now = 0;
    for (size_t i = 0; i < n; i++) {
        if (done[i])
            continue;
        if (migrate_apply(pg, kind, schema, set_path, &files[i], err) != 0) {
            applied_now = -1;
            goto out;
        }
        if (log != NULL) {
            fprintf(log, "applied %s/%s to schema %s\n", kind, files[i].name, schema);
            fflush(log);
        }
        applied_now++;
    }
out:
    free(done);
    return applied_now;
}

/* Takes the migration advisory lock, waiting (and saying so on out) while another holds it. */
static int migrate_lock(PGconn *pg, FILE *out, lw_err_t *err)
{
    char why[400];
    PGresult *res = NULL;
    const char *key[] = {MIGRATE_LOCK_KEY};
    if (migrate_exec(pg, "SELECT pg_try_advisory_lock($1::bigint)", 1, key, &res, why,
                     sizeof why) != 0)
        return lw_err_set(err, &lw_err_migration_failed, "migrations: cannot take the lock: %s",
                          why);
    bool got = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    if (got)
        return 0;
    if (out != NULL) {
        fprintf(out, "waiting for another `lwstack migrate` to finish\n");
        fflush(out);
    }
    if (migrate_exec(pg, "SELECT pg_advisory_lock($1::bigint)", 1, key, NULL, why, sizeof why) != 0)
        return lw_err_set(err, &lw_err_migration_failed, "migrations: cannot take the lock: %s",
                          why);
    return 0;
}

/* Brings every tenant schema the bookkeeping knows up to date; returns the files applied or
 * -1 with err. */
static int migrate_tenants(PGconn *pg, const lw_migration_set_t *set, FILE *out, lw_err_t *err)
{
    char why[400];
    PGresult *res = NULL;
    if (migrate_exec(pg,
                     "SELECT DISTINCT schema_name FROM lw_control.schema_migrations "
                     "WHERE kind = 'tenant' ORDER BY 1",
                     0, NULL, &res, why, sizeof why) != 0)
        return lw_err_set(err, &lw_err_migration_failed,
                          "migrations: cannot list the tenant schemas: %s", why);
    int total = 0;
    for (int i = 0; i < PQntuples(res) && total >= 0; i++) {
        int n = migrate_schema(pg, "tenant", PQgetvalue(res, i, 0), set->tenant, set->n_tenant, out,
                               err);
        total = n < 0 ? -1 : total + n;
    }
    PQclear(res);
    return total;
}

int lw_migrate_run(const char *db_uri, const lw_migration_set_t *set, void *log, lw_err_t *err)
{
    FILE *out = log;
    if (set == NULL)
        return lw_err_set(err, &lw_err_invalid_argument, "migrations: no migration set");
    PGconn *pg = lw_db_connect_blocking(db_uri, err);
    if (pg == NULL)
        return -1;
    int total = -1;
    char why[400];
    PQclear(PQexec(pg, "SET client_min_messages TO warning"));
    if (migrate_lock(pg, out, err) != 0)
        goto out;
    if (migrate_exec(pg, migrate_bootstrap_sql, 0, NULL, NULL, why, sizeof why) != 0) {
        lw_err_set(err, &lw_err_migration_failed,
                   "migrations: cannot create lw_control.schema_migrations: %s", why);
        goto out;
    }
    int n = migrate_schema(pg, "control", MIGRATE_CONTROL_SCHEMA, set->control, set->n_control, out,
                           err);
    if (n < 0)
        goto out;
    int t = migrate_tenants(pg, set, out, err);
    total = t < 0 ? -1 : n + t;
out:
    /* Closing the session releases the advisory lock. */
    PQfinish(pg);
    return total;
}

/* ---- inside a pool transaction ------------------------------------------------------------- */

typedef struct migrate_tx {
    lw_db_tx_t *tx;
    const lw_migration_set_t *set;
    char schema[MIGRATE_MAX_SCHEMA_LEN + 1];
    char quoted[2 * MIGRATE_MAX_SCHEMA_LEN + 3];
    bool drop;
    size_t step;
    lw_db_done_cb cb;
    void *arg;
} migrate_tx_t;

static void migrate_tx_step(migrate_tx_t *m);

static void migrate_tx_finish(migrate_tx_t *m, const lw_err_t *err)
{
    lw_db_done_cb cb = m->cb;
    void *arg = m->arg;
    free(m);
    if (cb != NULL)
        cb(arg, err);
}

static void migrate_tx_on_result(void *arg, const PGresult *res, const lw_err_t *err)
{
    (void)res;
    migrate_tx_t *m = arg;
    if (err == NULL) {
        m->step++;
        migrate_tx_step(m);
        return;
    }
    /* Steps: 0 lock, 1 create/drop schema, 2 search_path or delete rows, then per file
     * 2 steps (script, version row), then the search_path reset. */
    lw_err_t e = *err;
    if (!m->drop && m->step >= 3 && (m->step - 3) / 2 < m->set->n_tenant &&
        err->def != &lw_err_db_unavailable) {
        const lw_migration_t *f = &m->set->tenant[(m->step - 3) / 2];
        const char *why = err->message;
        const char *prefix = "database query failed: ";
        if (strncmp(why, prefix, strlen(prefix)) == 0)
            why += strlen(prefix);
        char copy[sizeof e.message];
        snprintf(copy, sizeof copy, "%s", why);
        migrate_fail(&e, "tenant", f, m->schema, copy);
    } else {
        lw_err_prefix(&e, "%s schema %s", m->drop ? "dropping" : "creating", m->schema);
    }
    migrate_tx_finish(m, &e);
}

static void migrate_tx_step(migrate_tx_t *m)
{
    char sql[sizeof m->quoted + 64];
    const char *schema_param[] = {m->schema};
    int rc;
    size_t nfiles = m->drop ? 0 : m->set->n_tenant;
    if (m->step == 1) { /* step 0, the lock, is sent by migrate_tx_start */
        snprintf(sql, sizeof sql, m->drop ? "DROP SCHEMA IF EXISTS %s CASCADE" : "CREATE SCHEMA %s",
                 m->quoted);
        rc = lw_db_tx_query(m->tx, sql, 0, NULL, migrate_tx_on_result, m);
    } else if (m->step == 2 && m->drop) {
        rc = lw_db_tx_query(m->tx,
                            "DELETE FROM lw_control.schema_migrations "
                            "WHERE schema_name = $1 AND kind = 'tenant'",
                            1, schema_param, migrate_tx_on_result, m);
    } else if (m->step == 2) {
        snprintf(sql, sizeof sql, "SET LOCAL search_path TO %s", m->quoted);
        rc = lw_db_tx_query(m->tx, sql, 0, NULL, migrate_tx_on_result, m);
    } else if (m->step < 3 + 2 * nfiles) {
        const lw_migration_t *f = &m->set->tenant[(m->step - 3) / 2];
        if ((m->step - 3) % 2 == 0) {
            rc = lw_db_tx_exec(m->tx, f->sql, migrate_tx_on_result, m);
        } else {
            char version[16], component[MIGRATE_MAX_COMPONENT_LEN + 1];
            snprintf(version, sizeof version, "%d", f->version);
            const char *p[] = {m->schema, "tenant",
                               migrate_component(f, component, sizeof component), version,
                               migrate_file(f)};
            rc = lw_db_tx_query(m->tx, migrate_insert_sql, 5, p, migrate_tx_on_result, m);
        }
    } else if (!m->drop && m->step == 3 + 2 * nfiles) {
        /* The caller's later statements in this transaction use its own search_path. */
        rc = lw_db_tx_query(m->tx, "SET LOCAL search_path TO DEFAULT", 0, NULL,
                            migrate_tx_on_result, m);
    } else {
        migrate_tx_finish(m, NULL);
        return;
    }
    if (rc != 0) {
        lw_err_t e;
        lw_err_set(&e, &lw_err_db_unavailable,
                   "database unavailable: the transaction cannot take more statements");
        migrate_tx_finish(m, &e);
    }
}

static int migrate_tx_start(lw_db_tx_t *tx, const lw_migration_set_t *set, const char *schema,
                            bool drop, lw_db_done_cb cb, void *arg)
{
    if (tx == NULL || schema == NULL || schema[0] == '\0' ||
        strlen(schema) > MIGRATE_MAX_SCHEMA_LEN || (!drop && set == NULL))
        return -1;
    if (drop && (strcmp(schema, MIGRATE_CONTROL_SCHEMA) == 0 || strcmp(schema, "public") == 0 ||
                 strcmp(schema, "information_schema") == 0 || strncmp(schema, "pg_", 3) == 0))
        return -1;
    migrate_tx_t *m = lw_calloc(1, sizeof *m);
    m->tx = tx;
    m->set = set;
    m->drop = drop;
    m->cb = cb;
    m->arg = arg;
    snprintf(m->schema, sizeof m->schema, "%s", schema);
    if (lw_db_quote_ident(schema, m->quoted, sizeof m->quoted) != 0) {
        free(m);
        return -1;
    }
    const char *lock_key[] = {MIGRATE_LOCK_KEY};
    if (lw_db_tx_query(tx, "SELECT pg_advisory_xact_lock_shared($1::bigint)", 1, lock_key,
                       migrate_tx_on_result, m) != 0) {
        free(m);
        return -1;
    }
    return 0;
}

int lw_migrate_tenant_schema_tx(lw_db_tx_t *tx, const lw_migration_set_t *set, const char *schema,
                                lw_db_done_cb cb, void *arg)
{
    return migrate_tx_start(tx, set, schema, false, cb, arg);
}

int lw_migrate_drop_tenant_schema_tx(lw_db_tx_t *tx, const char *schema, lw_db_done_cb cb,
                                     void *arg)
{
    return migrate_tx_start(tx, NULL, schema, true, cb, arg);
}
