/* tn_euis_driver DB_URI gateway EUI | device JOIN_EUI DEV_EUI
 *
 * Prints what the deployment-wide EUI registry (tenant/euis.h) answers, one line:
 *   gateway <tenant> <gateway_id>      device <tenant> <application_id> <device_id>
 *   none                               error <name>
 * Exit status 0 when the lookup ran (found or not), 1 otherwise. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "cluster/db.h"
#include "tenant/euis.h"

static bool done;
static int status = 1;

static void on_gateway(void *arg, const tn_gateway_ref_t *ref, const lw_err_t *err)
{
    (void)arg;
    if (err != NULL)
        printf("error %s\n", lw_err_name(err));
    else if (ref == NULL)
        printf("none\n");
    else
        printf("gateway %s %s\n", ref->tenant_id, ref->gateway_id);
    status = err != NULL;
    done = true;
}

static void on_device(void *arg, const tn_device_ref_t *ref, const lw_err_t *err)
{
    (void)arg;
    if (err != NULL)
        printf("error %s\n", lw_err_name(err));
    else if (ref == NULL)
        printf("none\n");
    else
        printf("device %s %s %s\n", ref->tenant_id, ref->application_id, ref->device_id);
    status = err != NULL;
    done = true;
}

static void on_stopped(void *arg)
{
    *(bool *)arg = true;
}

static int parse_eui(const char *s, uint64_t *out)
{
    char *end;
    if (strlen(s) != 16)
        return -1;
    *out = strtoull(s, &end, 16);
    return *end == '\0' ? 0 : -1;
}

int main(int argc, char **argv)
{
    uint64_t a = 0, b = 0;
    bool gw = argc == 4 && strcmp(argv[2], "gateway") == 0 && parse_eui(argv[3], &a) == 0;
    bool dev = argc == 5 && strcmp(argv[2], "device") == 0 && parse_eui(argv[3], &a) == 0 &&
               parse_eui(argv[4], &b) == 0;
    if (!gw && !dev) {
        fprintf(stderr, "usage: tn_euis_driver DB_URI gateway EUI | device JOIN_EUI DEV_EUI\n");
        return 2;
    }
    uv_loop_t loop;
    uv_loop_init(&loop);
    lw_err_t err;
    lw_db_opts_t opts = {.uri = argv[1], .pool_size = 1, .query_timeout_ms = 5000};
    lw_db_t *db = lw_db_new(&loop, &opts, &err);
    if (db == NULL || lw_db_start(db, &err) != 0) {
        fprintf(stderr, "tn_euis_driver: %s\n", err.message);
        return 1;
    }
    int rc = gw ? tn_gateway_eui_lookup(db, a, on_gateway, NULL)
                : tn_device_euis_lookup(db, a, b, on_device, NULL);
    if (rc != 0) {
        printf("error cannot-query\n");
        done = true;
    }
    while (!done)
        uv_run(&loop, UV_RUN_ONCE);
    bool stopped = false;
    lw_db_stop(db, on_stopped, &stopped);
    while (!stopped)
        uv_run(&loop, UV_RUN_ONCE);
    lw_db_free(db);
    uv_run(&loop, UV_RUN_NOWAIT);
    uv_loop_close(&loop);
    return status;
}
