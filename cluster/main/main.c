/* lwstack: the one binary, and the composition root (DESIGN.md §1). Two tables say what it
 * is made of: main_components, the components `lwstack start` can run, and main_commands,
 * its subcommands. Adding a server is one line in the first table (and its library in
 * CMakeLists.txt); adding a tool is one line in the second. Nothing else names a component:
 * the tables are the only place, and the runtime is given the components it runs. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cluster/config.h"
#include "cluster/log.h"
#include "cluster/mem.h"
#include "cluster/migrate.h"
#include "cluster/runtime.h"
#include "as/as.h"
#include "billing/billing.h"
#include "dtc/dtc.h"
#include "events/events.h"
#include "gs/gs.h"
#include "is/is.h"
#include "js/js.h"
#include "ns/ns.h"
#include "simulate/simulate.h"
#include "gs/gs.h"
#include "lorawan/cli/cli.h"
#include "tenant/tenant.h"

extern char **environ;

#define EXIT_USAGE 2

/* The components, in the order they are started. The tenant registry comes first and
 * always runs: every component stands on it (main_start adds it whatever is named). */
static const lw_component_t *const main_components[] = {
    &tn_component, &is_component,     &js_component,      &ns_component,  &as_component,
    &gs_component, &events_component, &billing_component, &dtc_component,
};
#define MAIN_NCOMPONENTS (sizeof main_components / sizeof main_components[0])

typedef struct main_command {
    const char *name;
    const char *args; /* shown after the name in the usage text */
    const char *help;
    /* Runs the command; argv[0] is its name. Returns the exit status. */
    int (*run)(lw_config_t *cfg, int argc, char **argv);
} main_command_t;

static int main_start(lw_config_t *cfg, int argc, char **argv);
static int main_migrate(lw_config_t *cfg, int argc, char **argv);
static int main_config(lw_config_t *cfg, int argc, char **argv);
static int main_kafka_dev(lw_config_t *cfg, int argc, char **argv);
static int main_lorawan(lw_config_t *cfg, int argc, char **argv);
static int main_version(lw_config_t *cfg, int argc, char **argv);
static int main_help(lw_config_t *cfg, int argc, char **argv);

static const main_command_t main_commands[] = {
    {"start", "[all|COMPONENT...]", "run components (default: all)", main_start},
    {"migrate", "", "apply pending database migrations", main_migrate},
    {"config", "[--docs]", "print the effective configuration (secrets redacted)", main_config},
    {"kafka-dev", "[--partitions N] [--bootstrap-file FILE]",
     "run a standalone Kafka broker for development", main_kafka_dev},
    {"lorawan", "decode HEX [...]", "decode a LoRaWAN frame as JSON", main_lorawan},
    {"simulate", "[OPTIONS]", "drive simulated gateways and devices against a running stack",
     lw_simulate_main},
    {"formatter-worker", "", "run payload formatter scripts for the AS (started by it)",
     as_formatter_worker_main},
    {"billing", "reconcile [--period YYYY-MM] [--tenant ID] [--fix] [--json]",
     "compare the usage ledger and tenant states with Stripe (exit 1: differences)",
     billing_reconcile_main},
    {"version", "", "print the version", main_version},
    {"help", "", "print this text", main_help},
};
#define MAIN_NCOMMANDS (sizeof main_commands / sizeof main_commands[0])

static void main_usage(FILE *f)
{
    fprintf(f, "usage: lwstack [-c FILE] [--key=value ...] COMMAND [ARGS]\n\ncommands:\n");
    for (size_t i = 0; i < MAIN_NCOMMANDS; i++) {
        const main_command_t *c = &main_commands[i];
        char line[128];
        snprintf(line, sizeof line, "%s%s%s", c->name, c->args[0] != '\0' ? " " : "", c->args);
        if (strlen(line) <= 26)
            fprintf(f, "  %-26s %s\n", line, c->help);
        else
            fprintf(f, "  %s\n  %-26s %s\n", line, "", c->help);
    }
    fprintf(f, "\ncomponents:");
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

/* Index of the component named `name` in main_components, or -1. */
static int main_find_component(const char *name)
{
    for (size_t i = 0; i < MAIN_NCOMPONENTS; i++)
        if (strcmp(main_components[i]->name, name) == 0)
            return (int)i;
    return -1;
}

/* Marks in chosen[] the components named in argv[1..argc-1] ("all" or none: every one).
 * Returns 0, or the exit status of a usage error naming the unknown or repeated name. */
static int main_choose(int argc, char **argv, bool chosen[MAIN_NCOMPONENTS])
{
    bool all = argc == 1, named = false;
    for (int i = 1; i < argc; i++) {
        if (argv[i][0] == '-')
            return main_usage_error("start: unknown flag %s", argv[i]);
        if (strcmp(argv[i], "all") == 0) {
            if (all || named)
                return main_usage_error("start: `all` runs every component: name `all` or "
                                        "components, once each");
            all = true;
            continue;
        }
        int k = main_find_component(argv[i]);
        if (k < 0) {
            char known[256] = "";
            size_t len = 0;
            for (size_t j = 0; j < MAIN_NCOMPONENTS && len < sizeof known; j++)
                len += (size_t)snprintf(known + len, sizeof known - len, " %s",
                                        main_components[j]->name);
            return main_usage_error("start: unknown component `%s` (components:%s)", argv[i],
                                    known);
        }
        if (all || chosen[k])
            return main_usage_error("start: component `%s` is named more than once%s", argv[i],
                                    all ? " (`all` includes it)" : "");
        chosen[k] = true;
        named = true;
    }
    for (size_t i = 0; i < MAIN_NCOMPONENTS; i++)
        chosen[i] = chosen[i] || all;
    /* The tenant registry is what every component stands on, and every process that serves
     * the API serves its events: both always run. */
    for (size_t i = 0; i < MAIN_NCOMPONENTS; i++)
        chosen[i] = chosen[i] || main_components[i] == &tn_component ||
                    main_components[i] == &events_component;
    return 0;
}

static int main_start(lw_config_t *cfg, int argc, char **argv)
{
    bool chosen[MAIN_NCOMPONENTS] = {false};
    int rc = main_choose(argc, argv, chosen);
    if (rc != 0)
        return rc;
    lw_err_t err;
    lw_err_clear(&err);
    lw_rt_t *rt = lw_rt_new(cfg, &err);
    if (rt == NULL) {
        fprintf(stderr, "lwstack: %s\n", err.message);
        return 1;
    }
    rc = 0;
    for (size_t i = 0; i < MAIN_NCOMPONENTS && rc == 0; i++)
        if (chosen[i])
            rc = lw_rt_add(rt, main_components[i], &err);
    if (rc == 0)
        rc = lw_rt_run(rt, &err);
    lw_rt_free(rt);
    if (rc != 0) {
        fprintf(stderr, "lwstack: %s\n", err.message);
        return err.def == &lw_err_config_invalid ? EXIT_USAGE : 1;
    }
    return 0;
}

static int main_migrate(lw_config_t *cfg, int argc, char **argv)
{
    if (argc > 1)
        return main_usage_error("migrate takes no arguments, got %s", argv[1]);
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

static int main_config(lw_config_t *cfg, int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--docs") == 0) {
        lw_config_print_docs(cfg, stdout);
        return 0;
    }
    if (argc > 1)
        return main_usage_error("config: unknown argument %s", argv[1]);
    lw_config_print(cfg, stdout);
    return 0;
}

/* Parses the value of --partitions (1 to 1000). Returns 0 or the usage error's status. */
static int main_parse_partitions(const char *s, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < 1 || v > 1000)
        return main_usage_error("kafka-dev: --partitions: `%s` is not a number from 1 to 1000", s);
    *out = (int)v;
    return 0;
}

static int main_kafka_dev(lw_config_t *cfg, int argc, char **argv)
{
    (void)cfg;
    int partitions = 4;
    const char *file = NULL;
    for (int i = 1; i < argc; i++) {
        int rc = 0;
        if (strcmp(argv[i], "--partitions") == 0 && i + 1 < argc)
            rc = main_parse_partitions(argv[++i], &partitions);
        else if (strncmp(argv[i], "--partitions=", 13) == 0)
            rc = main_parse_partitions(argv[i] + 13, &partitions);
        else if (strcmp(argv[i], "--bootstrap-file") == 0 && i + 1 < argc)
            file = argv[++i];
        else if (strncmp(argv[i], "--bootstrap-file=", 17) == 0)
            file = argv[i] + 17;
        else
            rc = main_usage_error("kafka-dev: unknown argument %s", argv[i]);
        if (rc != 0)
            return rc;
    }
    return lw_bus_kafka_dev(partitions, file) == 0 ? 0 : 1;
}

static int main_lorawan(lw_config_t *cfg, int argc, char **argv)
{
    (void)cfg;
    return lorawan_cli_main(argc, argv);
}

static int main_version(lw_config_t *cfg, int argc, char **argv)
{
    (void)cfg;
    if (argc > 1)
        return main_usage_error("version takes no arguments, got %s", argv[1]);
    printf("lwstack %s\n", LW_VERSION);
    return 0;
}

static int main_help(lw_config_t *cfg, int argc, char **argv)
{
    (void)cfg;
    (void)argc;
    (void)argv;
    main_usage(stdout);
    return 0;
}

static const main_command_t *main_find_command(const char *name)
{
    if (strcmp(name, "-h") == 0 || strcmp(name, "--help") == 0)
        name = "help";
    for (size_t i = 0; i < MAIN_NCOMMANDS; i++)
        if (strcmp(main_commands[i].name, name) == 0)
            return &main_commands[i];
    return NULL;
}

/* Each server's part of end devices (tenant/devparts.h), in the order they are written: the
 * registry first. Every process has them all, whichever servers it runs. */
static int main_devparts_register(void)
{
    static const tn_devpart_t *const parts[] = {&is_devpart, &js_devpart, &ns_devpart, &as_devpart};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
        if (tn_devparts_register(parts[i]) != 0)
            return -1;
    return 0;
}

/* Registers the runtime's configuration and every component's. */
static int main_config_register(lw_config_t *cfg)
{
    if (lw_rt_config_register(cfg) != 0)
        return -1;
    for (size_t i = 0; i < MAIN_NCOMPONENTS; i++)
        if (main_components[i]->config_register != NULL &&
            main_components[i]->config_register(cfg) != 0)
            return -1;
    return 0;
}

int main(int argc, char **argv)
{
    /* Before any json_* call: a NULL from jansson then means bad input, never memory. */
    json_set_alloc_funcs(lw_malloc, free);
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
    if (main_devparts_register() != 0 || main_config_register(cfg) != 0) {
        fprintf(stderr, "lwstack: cannot register the configuration\n");
        lw_config_free(cfg);
        return 1;
    }
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
    const main_command_t *cmd = main_find_command(argv[1]);
    if (cmd != NULL)
        rc = cmd->run(cfg, argc - 1, argv + 1);
    else if (argv[1][0] == '-')
        rc = main_usage_error("unknown flag %s", argv[1]);
    else
        rc = main_usage_error("unknown command %s", argv[1]);
out:
    lw_config_free(cfg);
    return rc;
}
