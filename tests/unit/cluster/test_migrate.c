/* Unit tests of cluster/migrate.c without a server: loading migration folders (names,
 * ordering, component folders, errors naming the file) and the embedded set. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cluster/migrate.h"

static char tmp_root[256];

static void write_file(const char *rel, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", tmp_root, rel);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void make_dir(const char *rel)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", tmp_root, rel);
    assert_int_equal(mkdir(path, 0755), 0);
}

static int setup(void **state)
{
    (void)state;
    snprintf(tmp_root, sizeof tmp_root, "%s/lwmigXXXXXX",
             getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
    if (mkdtemp(tmp_root) == NULL)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_root);
    return system(cmd) == 0 ? 0 : -1;
}

static const char *attr(const lw_err_t *err, const char *key)
{
    for (int i = 0; i < err->nattrs; i++)
        if (strcmp(err->attrs[i].key, key) == 0)
            return err->attrs[i].value;
    return NULL;
}

static void test_lw_migrations_load__sorted_by_version(void **state)
{
    (void)state;
    make_dir("control");
    make_dir("tenant");
    write_file("control/0010_c.sql", "SELECT 10;");
    write_file("control/0002_b-two.sql", "SELECT 2;");
    write_file("control/0001_a.sql", "SELECT 1;");
    write_file("control/README.md", "not a migration");
    write_file("control/.0003_hidden.sql", "hidden");
    write_file("tenant/0001_things.sql", "CREATE TABLE things (id int);\n");
    lw_migration_set_t set;
    lw_err_t err;
    assert_int_equal(lw_migrations_load(tmp_root, &set, &err), 0);
    assert_int_equal(set.n_control, 3);
    assert_int_equal(set.control[0].version, 1);
    assert_string_equal(set.control[0].name, "0001_a.sql");
    assert_string_equal(set.control[0].sql, "SELECT 1;");
    assert_int_equal(set.control[1].version, 2);
    assert_string_equal(set.control[1].name, "0002_b-two.sql");
    assert_int_equal(set.control[2].version, 10);
    assert_string_equal(set.control[2].name, "0010_c.sql");
    assert_int_equal(set.n_tenant, 1);
    assert_string_equal(set.tenant[0].sql, "CREATE TABLE things (id int);\n");
    assert_non_null(set.owned);
    lw_migrations_free(&set);
    assert_null(set.control);
    assert_int_equal(set.n_control, 0);
}

static void test_lw_migrations_load__only_tenant_folder(void **state)
{
    (void)state;
    make_dir("tenant");
    write_file("tenant/0001_x.sql", "");
    lw_migration_set_t set;
    lw_err_t err;
    assert_int_equal(lw_migrations_load(tmp_root, &set, &err), 0);
    assert_int_equal(set.n_control, 0);
    assert_int_equal(set.n_tenant, 1);
    assert_string_equal(set.tenant[0].sql, "");
    lw_migrations_free(&set);
}

static void expect_bad_file(const char *rel, const char *shown)
{
    lw_migration_set_t set;
    lw_err_t err;
    write_file(rel, "SELECT 1;");
    assert_int_equal(lw_migrations_load(tmp_root, &set, &err), -1);
    assert_string_equal(lw_err_name(&err), "migration_failed");
    assert_non_null(strstr(err.message, shown));
    assert_non_null(strstr(err.message, "is not named NNNN_name.sql"));
    assert_string_equal(attr(&err, "file"), shown);
    assert_null(set.control);
    assert_null(set.tenant);
}

static void test_lw_migrations_load__short_number_names_file(void **state)
{
    (void)state;
    make_dir("control");
    write_file("control/0001_ok.sql", "SELECT 1;");
    expect_bad_file("control/12_x.sql", "control/12_x.sql");
}

static void test_lw_migrations_load__uppercase_names_file(void **state)
{
    (void)state;
    make_dir("tenant");
    expect_bad_file("tenant/0001_Things.sql", "tenant/0001_Things.sql");
}

static void test_lw_migrations_load__version_zero_names_file(void **state)
{
    (void)state;
    make_dir("control");
    expect_bad_file("control/0000_init.sql", "control/0000_init.sql");
}

static void test_lw_migrations_load__no_name_names_file(void **state)
{
    (void)state;
    make_dir("control");
    expect_bad_file("control/0001_.sql", "control/0001_.sql");
}

static void test_lw_migrations_load__duplicate_version(void **state)
{
    (void)state;
    make_dir("control");
    write_file("control/0001_a.sql", "SELECT 1;");
    write_file("control/0001_b.sql", "SELECT 2;");
    lw_migration_set_t set;
    lw_err_t err;
    assert_int_equal(lw_migrations_load(tmp_root, &set, &err), -1);
    assert_string_equal(lw_err_name(&err), "migration_failed");
    assert_string_equal(err.message, "migrations: control/0001_a.sql and control/0001_b.sql have "
                                     "the same version 1");
}

static void test_lw_migrations_load__missing_folder(void **state)
{
    (void)state;
    char dir[300];
    snprintf(dir, sizeof dir, "%s/nope", tmp_root);
    lw_migration_set_t set;
    lw_err_t err;
    assert_int_equal(lw_migrations_load(dir, &set, &err), -1);
    assert_string_equal(lw_err_name(&err), "migration_failed");
    assert_non_null(strstr(err.message, "is not a folder"));
}

static void test_lw_migrations_load__no_subfolders(void **state)
{
    (void)state;
    lw_migration_set_t set;
    lw_err_t err;
    assert_int_equal(lw_migrations_load(tmp_root, &set, &err), -1);
    assert_non_null(strstr(err.message, "neither a control/ nor a tenant/ folder"));
}

static void test_lw_migrations_load__folder_named_sql(void **state)
{
    (void)state;
    make_dir("control");
    make_dir("control/0001_dir.sql");
    lw_migration_set_t set;
    lw_err_t err;
    assert_int_equal(lw_migrations_load(tmp_root, &set, &err), -1);
    assert_string_equal(err.message, "migrations: control/0001_dir.sql is not a regular file");
}

static void expect_file(const lw_migration_t *m, int version, const char *name)
{
    assert_int_equal(m->version, version);
    assert_string_equal(m->name, name);
}

static void test_lw_migrations_load__tenant_by_number_then_component(void **state)
{
    (void)state;
    make_dir("control");
    make_dir("tenant");
    make_dir("tenant/is");
    make_dir("tenant/ns");
    make_dir("tenant/as");
    write_file("tenant/0001_legacy.sql", "SELECT 0;");
    write_file("tenant/is/0002_keys.sql", "SELECT 2;");
    write_file("tenant/is/0001_registry.sql", "SELECT 1;");
    write_file("tenant/ns/0001_sessions.sql", "SELECT 11;");
    write_file("tenant/as/0003_formatters.sql", "SELECT 3;");
    write_file("tenant/ns/README.md", "not a migration");
    write_file("tenant/is/.0004_hidden.sql", "hidden");
    lw_migration_set_t set;
    lw_err_t err;
    assert_int_equal(lw_migrations_load(tmp_root, &set, &err), 0);
    assert_int_equal(set.n_tenant, 5);
    expect_file(&set.tenant[0], 1, "0001_legacy.sql");
    expect_file(&set.tenant[1], 1, "is/0001_registry.sql");
    expect_file(&set.tenant[2], 1, "ns/0001_sessions.sql");
    expect_file(&set.tenant[3], 2, "is/0002_keys.sql");
    expect_file(&set.tenant[4], 3, "as/0003_formatters.sql");
    assert_string_equal(set.tenant[2].sql, "SELECT 11;");
    lw_migrations_free(&set);
}

static void test_lw_migrations_load__same_component_and_number_names_both(void **state)
{
    (void)state;
    make_dir("tenant");
    make_dir("tenant/is");
    make_dir("tenant/ns");
    write_file("tenant/ns/0002_a.sql", "SELECT 1;");
    write_file("tenant/is/0002_b.sql", "SELECT 2;");
    write_file("tenant/is/0002_a.sql", "SELECT 3;");
    lw_migration_set_t set;
    lw_err_t err;
    assert_int_equal(lw_migrations_load(tmp_root, &set, &err), -1);
    assert_string_equal(lw_err_name(&err), "migration_failed");
    assert_string_equal(err.message, "migrations: tenant/is/0002_a.sql and tenant/is/0002_b.sql "
                                     "have the same version 2");
    assert_string_equal(attr(&err, "file"), "tenant/is/0002_b.sql");
    assert_null(set.tenant);
    assert_int_equal(set.n_tenant, 0);
}

static void test_lw_migrations_load__same_number_at_top_and_in_folder(void **state)
{
    (void)state;
    make_dir("tenant");
    make_dir("tenant/is");
    write_file("tenant/0001_identity.sql", "SELECT 1;");
    write_file("tenant/is/0001_identity.sql", "SELECT 2;");
    lw_migration_set_t set;
    lw_err_t err;
    assert_int_equal(lw_migrations_load(tmp_root, &set, &err), 0);
    assert_int_equal(set.n_tenant, 2);
    expect_file(&set.tenant[0], 1, "0001_identity.sql");
    expect_file(&set.tenant[1], 1, "is/0001_identity.sql");
    lw_migrations_free(&set);
}

static void test_lw_migrations_load__bad_component_folder_names_it(void **state)
{
    (void)state;
    make_dir("tenant");
    make_dir("tenant/Is");
    write_file("tenant/Is/0001_x.sql", "SELECT 1;");
    lw_migration_set_t set;
    lw_err_t err;
    assert_int_equal(lw_migrations_load(tmp_root, &set, &err), -1);
    assert_string_equal(lw_err_name(&err), "migration_failed");
    assert_non_null(strstr(err.message, "tenant/Is/ is not named as a component"));
    assert_string_equal(attr(&err, "file"), "tenant/Is");
}

static void test_lw_migrations_load__bad_name_in_component_folder(void **state)
{
    (void)state;
    make_dir("tenant");
    make_dir("tenant/ns");
    expect_bad_file("tenant/ns/12_x.sql", "tenant/ns/12_x.sql");
}

static void test_lw_migrations_load__control_has_no_component_folders(void **state)
{
    (void)state;
    make_dir("control");
    make_dir("control/is");
    write_file("control/0001_a.sql", "SELECT 1;");
    write_file("control/is/0001_b.sql", "SELECT 2;");
    lw_migration_set_t set;
    lw_err_t err;
    assert_int_equal(lw_migrations_load(tmp_root, &set, &err), 0);
    assert_int_equal(set.n_control, 1);
    expect_file(&set.control[0], 1, "0001_a.sql");
    lw_migrations_free(&set);
}

static void test_lw_migrations_free__zeroed_and_null(void **state)
{
    (void)state;
    lw_migration_set_t set;
    memset(&set, 0, sizeof set);
    lw_migrations_free(&set);
    lw_migrations_free(NULL);
    /* The embedded set is static: free leaves it alone (owned is NULL). */
    lw_migrations_free((lw_migration_set_t *)lw_migrations_embedded());
    assert_non_null(lw_migrations_embedded());
}

static void check_list(const lw_migration_t *list, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        assert_true(list[i].version >= 1);
        assert_non_null(list[i].sql);
        /* The file name, after the component folder if any. */
        const char *name =
            strchr(list[i].name, '/') != NULL ? strchr(list[i].name, '/') + 1 : list[i].name;
        assert_int_equal(strlen(name) > 9, 1);
        assert_int_equal(atoi(name), list[i].version);
        assert_int_equal(name[4], '_');
        assert_string_equal(name + strlen(name) - 4, ".sql");
        /* The order of application: by number, then component (files of one component
         * never share a number). */
        if (i > 0)
            assert_true(list[i].version > list[i - 1].version ||
                        (list[i].version == list[i - 1].version &&
                         strcmp(list[i].name, list[i - 1].name) > 0 &&
                         strchr(list[i].name, '/') != NULL));
    }
}

static void test_lw_migrations_embedded__sorted_and_valid(void **state)
{
    (void)state;
    const lw_migration_set_t *set = lw_migrations_embedded();
    assert_non_null(set);
    assert_ptr_equal(set, lw_migrations_embedded());
    assert_null(set->owned);
    check_list(set->control, set->n_control);
    check_list(set->tenant, set->n_tenant);
    /* migrations/tenant/is/0001_identity.sql, moved there from migrations/tenant/. */
    assert_true(set->n_tenant >= 1);
    expect_file(&set->tenant[0], 1, "is/0001_identity.sql");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_lw_migrations_load__sorted_by_version, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lw_migrations_load__only_tenant_folder, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lw_migrations_load__short_number_names_file, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lw_migrations_load__uppercase_names_file, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lw_migrations_load__version_zero_names_file, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lw_migrations_load__no_name_names_file, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lw_migrations_load__duplicate_version, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lw_migrations_load__missing_folder, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lw_migrations_load__no_subfolders, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lw_migrations_load__folder_named_sql, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lw_migrations_load__tenant_by_number_then_component,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_lw_migrations_load__same_component_and_number_names_both, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lw_migrations_load__same_number_at_top_and_in_folder,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_lw_migrations_load__bad_component_folder_names_it,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_lw_migrations_load__bad_name_in_component_folder,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_lw_migrations_load__control_has_no_component_folders,
                                        setup, teardown),
        cmocka_unit_test(test_lw_migrations_free__zeroed_and_null),
        cmocka_unit_test(test_lw_migrations_embedded__sorted_and_valid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
