/* Schema migrations, forward-only SQL files under migrations/ (migrations/README.md):
 *
 *   migrations/control/NNNN_name.sql              schema lw_control
 *   migrations/tenant/<component>/NNNN_name.sql   every tenant schema `t_<id>`
 *
 * Tenant migrations are numbered per component, so that components add theirs without
 * colliding: <component> is the component's name on `lwstack start` (is, ns, tenant, ...),
 * and its files are numbered from 0001. Two files of one component with one number are an
 * error naming both (at build time, and when loading a folder). Files directly in
 * migrations/tenant/ (component "") are those written before component folders; no new
 * ones go there.
 *
 * Order: tenant files are applied by number, then component name (component "" first): a
 * file may use what every file of a lower number created, whichever component wrote it, so
 * to build on another component's table, take a number above that table's file. Within a
 * component, files apply in number order and never out of it (a pending file older than an
 * applied one of the same component is refused); across components, a pending file runs
 * even when another component's higher number is applied already (it was added later).
 *
 * The files are embedded in the binary at build time; `db.migrations-dir` points at another
 * folder (with control/ and tenant/ inside) instead. Applied files are recorded in
 * lw_control.schema_migrations(schema_name, kind, version, name, applied_at, component),
 * one row per (schema_name, component, version), `name` being the file name without its
 * folder ("0001_users.sql", component "is"); the tenant schemas are exactly those
 * recorded there with kind 'tenant'. Rows written before component folders have component
 * '': such a row stands for the file of its version directly in tenant/, or, when there is
 * none, for the one component file with its version and file name, so moving a file into
 * its component's folder (keeping its name) keeps it applied. Tenant files are written
 * without schema names: they run with search_path set to the tenant's schema. */
#ifndef LW_MIGRATE_H
#define LW_MIGRATE_H

#include <stddef.h>

#include "cluster/db.h"
#include "cluster/err.h"

typedef struct lw_migration {
    int version;      /* NNNN */
    const char *name; /* the file's path under kind/: "0001_tenants.sql", "is/0001_users.sql" */
    const char *sql;
} lw_migration_t;

typedef struct lw_migration_set {
    lw_migration_t *control; /* in version order */
    size_t n_control;
    lw_migration_t *tenant; /* in the order of application: (version, component) */
    size_t n_tenant;
    void *owned; /* storage when loaded from a folder */
} lw_migration_set_t;

/* The embedded set (static storage; never freed). */
const lw_migration_set_t *lw_migrations_embedded(void);
/* Loads dir/control/ and dir/tenant/ with its component folders. Files must be named
 * NNNN_name.sql with versions unique per component, component folders as components are;
 * otherwise err names the file (both files for a repeated version). */
int lw_migrations_load(const char *dir, lw_migration_set_t *out, lw_err_t *err);
void lw_migrations_free(lw_migration_set_t *set);

/* `lwstack migrate` (blocking, never on the loop): under a PostgreSQL advisory lock,
 * applies pending control migrations, then pending tenant migrations to every tenant schema,
 * each file in its own transaction with its version row. A failing file leaves that schema
 * at its previous version; err (migration_failed) names the file, the schema and the SQL
 * error. Prints one line per applied file to `log` (a FILE *, may be NULL). Returns the
 * number of files applied, or -1. */
int lw_migrate_run(const char *db_uri, const lw_migration_set_t *set, void *log, lw_err_t *err);

/* Inside a running transaction (tenant creation): creates `schema`, applies every tenant
 * migration to it and records the versions. cb runs once with the first error or none: a
 * failing file gives migration_failed naming the file and the schema (the caller rolls
 * back); connection loss gives db_unavailable. Returns -1 (no callback) on bad arguments.
 *
 * It first takes the migration advisory lock in shared mode for the rest of the
 * transaction, so that it waits while `lwstack migrate` runs and a run never misses a
 * schema. Call it before the transaction writes lw_control rows that a control migration
 * might alter (e.g. the tenant row), or such a migration and this transaction can deadlock
 * (PostgreSQL then aborts one of them). Afterwards search_path is the session default. */
int lw_migrate_tenant_schema_tx(lw_db_tx_t *tx, const lw_migration_set_t *set, const char *schema,
                                lw_db_done_cb cb, void *arg);

/* Inside a running transaction (tenant purge): drops `schema` with everything in it and
 * deletes its version rows. Refuses lw_control, public, information_schema and pg_* schemas
 * (returns -1). cb runs once with the first error or none. */
int lw_migrate_drop_tenant_schema_tx(lw_db_tx_t *tx, const char *schema, lw_db_done_cb cb,
                                     void *arg);

#endif
