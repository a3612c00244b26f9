/* tn_euis_driver DB_URI gateway EUI | device JOIN_EUI DEV_EUI
 *                | gateway-full EUI | gateway-id TENANT GATEWAY_ID
 *
 * Prints what the deployment-wide EUI registry (tenant/euis.h) answers, one line:
 *   gateway <tenant> <gateway_id>      device <tenant> <application_id> <device_id>
 *   none                               error <name>
 * gateway-full and gateway-id print the whole gateway answer as one JSON object instead
 * (keys as tn_gateway_ref_t's fields; eui as 16 uppercase hex; location only when set).
 * Exit status 0 when the lookup ran (found or not), 1 otherwise. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <uv.h>

#include "cluster/db.h"
#include "tenant/euis.h"

static bool done;
static int status = 1;
static bool full;

static void print_full(const tn_gateway_ref_t *ref)
{
    json_t *o = json_object();
    json_object_set_new(o, "tenant_id", json_string(ref->tenant_id));
    json_object_set_new(o, "gateway_id", json_string(ref->gateway_id));
    if (ref->has_eui) {
        char e[17];
        snprintf(e, sizeof e, "%016llX", (unsigned long long)ref->eui);
        json_object_set_new(o, "eui", json_string(e));
    }
    json_t *fps = json_array();
    for (size_t i = 0; i < ref->n_frequency_plans; i++)
        json_array_append_new(fps, json_string(ref->frequency_plan_ids[i]));
    json_object_set_new(o, "frequency_plan_ids", fps);
    json_object_set_new(o, "schedule_downlink_late", json_boolean(ref->schedule_downlink_late));
    json_object_set_new(o, "enforce_duty_cycle", json_boolean(ref->enforce_duty_cycle));
    json_object_set_new(o, "schedule_anytime_delay_ms",
                        json_integer((json_int_t)ref->schedule_anytime_delay_ms));
    json_object_set_new(o, "update_location_from_status",
                        json_boolean(ref->update_location_from_status));
    json_object_set_new(o, "location_public", json_boolean(ref->location_public));
    json_object_set_new(o, "status_public", json_boolean(ref->status_public));
    json_object_set_new(o, "require_authenticated_connection",
                        json_boolean(ref->require_authenticated_connection));
    if (ref->has_antenna_gain)
        json_object_set_new(o, "antenna_gain", json_real(ref->antenna_gain));
    if (ref->has_location) {
        json_t *l = json_object();
        json_object_set_new(l, "latitude", json_real(ref->location.latitude));
        json_object_set_new(l, "longitude", json_real(ref->location.longitude));
        json_object_set_new(l, "altitude", json_integer(ref->location.altitude));
        json_object_set_new(l, "accuracy", json_integer(ref->location.accuracy));
        json_object_set_new(l, "source", json_string(ref->location.source));
        json_object_set_new(o, "location", l);
    }
    char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(9));
    printf("%s\n", text);
    free(text);
    json_decref(o);
}

static void on_gateway(void *arg, const tn_gateway_ref_t *ref, const lw_err_t *err)
{
    (void)arg;
    if (err != NULL)
        printf("error %s\n", lw_err_name(err));
    else if (ref == NULL)
        printf("none\n");
    else if (full)
        print_full(ref);
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
    bool gw_full = argc == 4 && strcmp(argv[2], "gateway-full") == 0 && parse_eui(argv[3], &a) == 0;
    bool gw_id = argc == 5 && strcmp(argv[2], "gateway-id") == 0;
    full = gw_full || gw_id;
    bool dev = argc == 5 && strcmp(argv[2], "device") == 0 && parse_eui(argv[3], &a) == 0 &&
               parse_eui(argv[4], &b) == 0;
    if (!gw && !dev && !gw_full && !gw_id) {
        fprintf(stderr, "usage: tn_euis_driver DB_URI gateway EUI | device JOIN_EUI DEV_EUI | "
                        "gateway-full EUI | gateway-id TENANT GATEWAY_ID\n");
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
    int rc = gw || gw_full ? tn_gateway_eui_lookup(db, a, on_gateway, NULL)
             : gw_id       ? tn_gateway_id_lookup(db, argv[3], argv[4], on_gateway, NULL)
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
