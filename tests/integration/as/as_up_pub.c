/* Driver for tests/integration/test_as_mqtt_stack.sh: publishes AsUp messages on lw.as.up as
 * the AS worker does, so that the MQTT server inside a running stack can be tested before
 * (and independently of) the uplink pipeline.
 *
 *   as_up_pub --brokers B --tenant T --app A --dev D --type N --json J [--count K]
 *             [--id HEX] [--prefix P]
 *
 * Publishes K (default 1) AsUp keyed "<T>/<A>/<D>" with type N (messages.proto AsUpType) and
 * the ApplicationUp JSON J; with --id every one carries that envelope id (32 hex digits: a
 * replay), else random ids. With --devs N the K messages go round-robin to devices "<D>0" ..
 * "<D>N-1". In J, %SEQ% becomes the message's number (0..K-1), %DEV% its device ID and %TIME%
 * its received_at in RFC 3339: --received-at NS sets AsUp.received_at (Unix ns) of the first,
 * --step NS adds to it for each next one (the Storage Integration's tests). Waits
 * for delivery (lw_bus_stop flushes), prints "published=P delivered=D failed=F"; exit 0 when
 * nothing failed. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>
#include <uv.h>

#include "cluster/bus.h"
#include "cluster/config.h"
#include "cluster/hex.h"
#include "cluster/log.h"
#include "messages/messages.h"

static void usage(void)
{
    fprintf(stderr, "usage: as_up_pub --brokers B --tenant T --app A --dev D --type N --json J "
                    "[--count K] [--id HEX] [--prefix P] [--devs N]\n");
    exit(2);
}

static void stopped(void *arg)
{
    uv_stop(arg);
}

int main(int argc, char **argv)
{
    const char *brokers = NULL, *tenant = NULL, *app = NULL, *dev = NULL, *json = NULL;
    const char *idhex = NULL, *prefix = NULL;
    long type = -1, count = 1, devs = 0;
    long long received_at = 0, step = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *a = argv[i], *v = argv[i + 1];
        if (strcmp(a, "--brokers") == 0)
            brokers = v;
        else if (strcmp(a, "--tenant") == 0)
            tenant = v;
        else if (strcmp(a, "--app") == 0)
            app = v;
        else if (strcmp(a, "--dev") == 0)
            dev = v;
        else if (strcmp(a, "--type") == 0)
            type = atol(v);
        else if (strcmp(a, "--json") == 0)
            json = v;
        else if (strcmp(a, "--count") == 0)
            count = atol(v);
        else if (strcmp(a, "--id") == 0)
            idhex = v;
        else if (strcmp(a, "--prefix") == 0)
            prefix = v;
        else if (strcmp(a, "--devs") == 0)
            devs = atol(v);
        else if (strcmp(a, "--received-at") == 0)
            received_at = atoll(v);
        else if (strcmp(a, "--step") == 0)
            step = atoll(v);
        else
            usage();
    }
    if (brokers == NULL || tenant == NULL || app == NULL || dev == NULL || json == NULL ||
        type < 0 || count < 1)
        usage();
    lw_log_setup(LW_LOG_WARN, LW_LOG_LOGFMT);
    lw_err_t err;
    lw_err_clear(&err);
    lw_config_t *cfg = lw_config_new();
    lw_bus_config_register(cfg);
    if (lw_config_set(cfg, "bus.brokers", brokers, "flag", &err) != 0 ||
        (prefix != NULL && lw_config_set(cfg, "bus.topic-prefix", prefix, "flag", &err) != 0)) {
        fprintf(stderr, "as_up_pub: %s\n", err.message);
        return 2;
    }
    uv_loop_t loop;
    uv_loop_init(&loop);
    lw_bus_t *bus = lw_bus_new(&loop, cfg, &err);
    if (bus == NULL) {
        fprintf(stderr, "as_up_pub: %s: %s\n", lw_err_name(&err), err.message);
        return 1;
    }
    uint8_t id[LW_MSG_ID_LEN];
    if (idhex != NULL && lw_hex_decode(idhex, id, sizeof id) != (int)sizeof id) {
        fprintf(stderr, "as_up_pub: --id: %d hex digits\n", 2 * LW_MSG_ID_LEN);
        return 2;
    }
    char key[300], devid[64];
    static uint8_t buf[LW_MSG_MAX_LEN];
    static char text[LW_MSG_MAX_LEN / 2];
    for (long i = 0; i < count; i++) {
        if (devs > 0)
            snprintf(devid, sizeof devid, "%s%ld", dev, i % devs);
        else
            snprintf(devid, sizeof devid, "%s", dev);
        int kl = snprintf(key, sizeof key, "%s/%s/%s", tenant, app, devid);
        /* %SEQ%, %DEV% and %TIME% */
        long long at = received_at + i * step;
        char at_text[48];
        time_t sec = (time_t)(at / 1000000000ll);
        struct tm tm;
        gmtime_r(&sec, &tm);
        size_t tl = strftime(at_text, sizeof at_text, "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(at_text + tl, sizeof at_text - tl, ".%09lldZ", at % 1000000000ll);
        size_t o = 0;
        for (const char *c = json; *c != '\0' && o + 64 < sizeof text;) {
            if (strncmp(c, "%SEQ%", 5) == 0) {
                o += (size_t)snprintf(text + o, sizeof text - o, "%ld", i);
                c += 5;
            } else if (strncmp(c, "%TIME%", 6) == 0) {
                o += (size_t)snprintf(text + o, sizeof text - o, "%s", at_text);
                c += 6;
            } else if (strncmp(c, "%DEV%", 5) == 0) {
                o += (size_t)snprintf(text + o, sizeof text - o, "%s", devid);
                c += 5;
            } else {
                text[o++] = *c++;
            }
        }
        text[o] = '\0';
        if (idhex == NULL)
            RAND_bytes(id, sizeof id);
        Lw__Msg__Envelope env = LW__MSG__ENVELOPE__INIT;
        env.id.data = id;
        env.id.len = sizeof id;
        env.tenant_id = (char *)tenant;
        env.schema_version = LW_MSG_SCHEMA_VERSION;
        Lw__Msg__AsUp m = LW__MSG__AS_UP__INIT;
        m.envelope = &env;
        m.application_id = (char *)app;
        m.device_id = devid;
        m.type = (Lw__Msg__AsUpType)type;
        m.received_at = at;
        m.json.data = (uint8_t *)text;
        m.json.len = o;
        size_t len = 0;
        int rc = lw_msg_as_up_encode(&m, buf, sizeof buf, &len);
        if (rc != 0) {
            fprintf(stderr, "as_up_pub: encode: %s\n", lw_msg_strerror(rc));
            return 1;
        }
        if (lw_bus_publish(bus, "as.up", key, (size_t)kl, buf, len, &err) != 0) {
            fprintf(stderr, "as_up_pub: publish: %s\n", err.message);
            return 1;
        }
    }
    lw_bus_stop(bus, stopped, &loop);
    uv_run(&loop, UV_RUN_DEFAULT);
    lw_bus_stats_t st;
    lw_bus_stats(bus, &st);
    printf("published=%" PRIu64 " delivered=%" PRIu64 " failed=%" PRIu64 "\n", st.published,
           st.delivered, st.failed);
    lw_bus_free(bus);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    lw_config_free(cfg);
    return st.failed == 0 ? 0 : 1;
}
