/* lwstack: the one binary. `lwstack start [all|component...]` runs components on one loop;
 * the other subcommands are tools for operators. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/config.h"
#include "cluster/log.h"
#include "cluster/migrate.h"
#include "cluster/runtime.h"
#include "tenant/tenant.h"
#if __has_include("cmd_lorawan.h")
#include "cmd_lorawan.h"
#define LW_HAVE_LORAWAN_CMD 1
#endif
#ifdef LW_HAVE_IS
#include "is/is.h"
#endif

extern char **environ;

#define EXIT_USAGE 2

static const lw_component_t *const main_components[] = {
    &tn_component,
#ifdef LW_HAVE_IS
    &is_component,
#endif
};
#define MAIN_NCOMPONENTS (sizeof main_components / sizeof main_components[0])

static void main_usage(FILE *f)
{
    fprintf(f, "usage: lwstack [-c FILE] [--key=value ...] COMMAND [ARGS]\n"
               "\n"
               "commands:\n"
               "  start [all|COMPONENT...]   run components (default: all)\n"
               "  migrate                    apply pending database migrations\n"
               "  config [--docs]            print the effective configuration (secrets "
               "redacted)\n"
               "  kafka-dev [--partitions N] [--bootstrap-file FILE]\n"
               "                             run a standalone Kafka broker for development\n"
               "  lorawan decode HEX [...]   decode a LoRaWAN frame as JSON\n"
               "  version                    print the version\n"
               "\n"
               "components:");
    for (size_t i = 0; i < MAIN_NCOMPONENTS; i++)
        fprintf(f, " %s", main_components[i]->name);
    fprintf(f, "\n\nEvery configuration key `a.b-c` is also flag --a.b-c and variable "
               "LWSTACK_A_B_C;\nsee `lwstack config --docs`.\n");
}

static int main_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int main_usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "lwstack: ");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n\n");
    main_usage(stderr);
    return EXIT_USAGE;
}

static const lw_component_t *main_find_component(const char *name)
{
    for (size_t i = 0; i < MAIN_NCOMPONENTS; i++)
        if (strcmp(main_components[i]->name, name) == 0)
            return main_components[i];
    return NULL;
}

static int main_start(lw_config_t *cfg, int argc, char **argv)
{
    const lw_component_t *chosen[MAIN_NCOMPONENTS];
    size_t n = 0;
    bool all = argc == 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "all") == 0) {
            all = true;
            continue;
        }
        if (argv[i][0] == '-')
            return main_usage_error("unknown flag %s", argv[i]);
        const lw_component_t *c = main_find_component(argv[i]);
        if (c == NULL)
            return main_usage_error("unknown component %s", argv[i]);
        chosen[n++] = c;
    }
    if (all) {
        n = 0;
        for (size_t i = 0; i < MAIN_NCOMPONENTS; i++)
            chosen[n++] = main_components[i];
    }
    lw_err_t err;
    lw_err_clear(&err);
    lw_rt_t *rt = lw_rt_new(cfg, &err);
    if (rt == NULL) {
        fprintf(stderr, "lwstack: %s\n", err.message);
        return 1;
    }
    /* The tenant registry is what every component stands on: always run it. */
    lw_rt_add(rt, &tn_component, &err);
    for (size_t i = 0; i < n; i++)
        lw_rt_add(rt, chosen[i], &err);
    int rc = lw_rt_run(rt, &err);
    lw_rt_free(rt);
    if (rc != 0) {
        fprintf(stderr, "lwstack: %s\n", err.message);
        return err.def == &lw_err_config_invalid ? EXIT_USAGE : 1;
    }
    return 0;
}

static int main_migrate(lw_config_t *cfg, int argc, char **argv)
{
    (void)argv;
    if (argc > 0)
        return main_usage_error("migrate takes no arguments, got %s", argv[0]);
    const char *uri = lw_config_str(cfg, "db.uri");
    if (uri == NULL)
        return main_usage_error("%s", "`db.uri` is not set (flag --db.uri, variable "
                                      "LWSTACK_DB_URI)");
    lw_err_t err;
    lw_err_clear(&err);
    lw_migration_set_t loaded;
    const lw_migration_set_t *set = lw_migrations_embedded();
    const char *dir = lw_config_str(cfg, "db.migrations-dir");
    if (dir != NULL) {
        if (lw_migrations_load(dir, &loaded, &err) != 0) {
            fprintf(stderr, "lwstack migrate: %s\n", err.message);
            return 1;
        }
        set = &loaded;
    }
    int n = lw_migrate_run(uri, set, stdout, &err);
    if (set == &loaded)
        lw_migrations_free(&loaded);
    if (n < 0) {
        fprintf(stderr, "lwstack migrate: %s\n", err.message);
        return 1;
    }
    printf("%d migration%s applied\n", n, n == 1 ? "" : "s");
    return 0;
}

static int main_kafka_dev(int argc, char **argv)
{
    int partitions = 4;
    const char *file = NULL;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--partitions") == 0 && i + 1 < argc) {
            char *end;
            long v = strtol(argv[++i], &end, 10);
            if (*end != '\0' || v < 1 || v > 1000)
                return main_usage_error("--partitions: `%s` is not a number from 1 to 1000",
                                        argv[i]);
            partitions = (int)v;
        } else if (strncmp(argv[i], "--partitions=", 13) == 0) {
            char *end;
            long v = strtol(argv[i] + 13, &end, 10);
            if (*end != '\0' || v < 1 || v > 1000)
                return main_usage_error("--partitions: `%s` is not a number from 1 to 1000",
                                        argv[i] + 13);
            partitions = (int)v;
        } else if (strcmp(argv[i], "--bootstrap-file") == 0 && i + 1 < argc) {
            file = argv[++i];
        } else if (strncmp(argv[i], "--bootstrap-file=", 17) == 0) {
            file = argv[i] + 17;
        } else {
            return main_usage_error("kafka-dev: unknown argument %s", argv[i]);
        }
    }
    return lw_bus_kafka_dev(partitions, file) == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    /* -c FILE / --config FILE first: the file is loaded before the environment and flags. */
    const char *file = NULL;
    int out = 1;
    for (int i = 1; i < argc; i++) {
        if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0)) {
            if (i + 1 >= argc)
                return main_usage_error("%s needs a file name", argv[i]);
            file = argv[++i];
            continue;
        }
        if (strncmp(argv[i], "--config=", 9) == 0) {
            file = argv[i] + 9;
            continue;
        }
        argv[out++] = argv[i];
    }
    argc = out;
    argv[argc] = NULL;

    lw_config_t *cfg = lw_config_new();
    lw_rt_config_register(cfg);
    for (size_t i = 0; i < MAIN_NCOMPONENTS; i++)
        if (main_components[i]->config_register != NULL)
            main_components[i]->config_register(cfg);

    lw_err_t err;
    lw_err_clear(&err);
    int rc = EXIT_USAGE;
    if ((file != NULL && lw_config_load_file(cfg, file, &err) != 0) ||
        lw_config_load_env(cfg, environ, &err) != 0 ||
        lw_config_parse_flags(cfg, &argc, argv, &err) != 0) {
        fprintf(stderr, "lwstack: %s\n", err.message);
        goto out;
    }
    if (argc < 2) {
        main_usage(stderr);
        goto out;
    }
    const char *cmd = argv[1];
    int sub_argc = argc - 2;
    char **sub_argv = argv + 2;
    if (strcmp(cmd, "start") == 0) {
        rc = main_start(cfg, sub_argc, sub_argv);
    } else if (strcmp(cmd, "migrate") == 0) {
        rc = main_migrate(cfg, sub_argc, sub_argv);
    } else if (strcmp(cmd, "config") == 0) {
        if (sub_argc == 1 && strcmp(sub_argv[0], "--docs") == 0) {
            lw_config_print_docs(cfg, stdout);
            rc = 0;
        } else if (sub_argc == 0) {
            lw_config_print(cfg, stdout);
            rc = 0;
        } else {
            rc = main_usage_error("config: unknown argument %s", sub_argv[0]);
        }
    } else if (strcmp(cmd, "kafka-dev") == 0) {
        rc = main_kafka_dev(sub_argc, sub_argv);
    } else if (strcmp(cmd, "version") == 0) {
        printf("lwstack %s\n", LW_VERSION);
        rc = 0;
#ifdef LW_HAVE_LORAWAN_CMD
    } else if (strcmp(cmd, "lorawan") == 0) {
        rc = lw_cmd_lorawan(sub_argc + 1, argv + 1);
#endif
    } else if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
        main_usage(stdout);
        rc = 0;
    } else if (cmd[0] == '-') {
        rc = main_usage_error("unknown flag %s", cmd);
    } else {
        rc = main_usage_error("unknown command %s", cmd);
    }
out:
    lw_config_free(cfg);
    return rc;
}
