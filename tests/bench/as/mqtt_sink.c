/* The AS bench's MQTT subscriber (tests/bench/as/run.sh): libmosquitto, QoS 0, one line per
 * message, "<unix time with ns> <payload>", as `mosquitto_sub -F '%U %p'` writes it, but
 * through a large stdio buffer: mosquitto_sub flushes every line, which held it near 7,000
 * messages/s on this machine, below the rates the bench asks. Runs until SIGINT or SIGTERM.
 *
 *   mqtt_sink HOST PORT USERNAME PASSWORD TOPIC OUT */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mosquitto.h>

static volatile sig_atomic_t stop;
static FILE *out;
static const char *topic;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static void on_connect(struct mosquitto *m, void *arg, int rc)
{
    (void)arg;
    if (rc != 0) {
        fprintf(stderr, "mqtt_sink: connection refused (%d)\n", rc);
        stop = 1;
        return;
    }
    mosquitto_subscribe(m, NULL, topic, 0);
}

static void on_message(struct mosquitto *m, void *arg, const struct mosquitto_message *msg)
{
    (void)m;
    (void)arg;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    fprintf(out, "%lld.%09ld ", (long long)ts.tv_sec, ts.tv_nsec);
    fwrite(msg->payload, 1, (size_t)msg->payloadlen, out);
    fputc('\n', out);
}

int main(int argc, char **argv)
{
    if (argc != 7) {
        fprintf(stderr, "usage: mqtt_sink HOST PORT USERNAME PASSWORD TOPIC OUT\n");
        return 2;
    }
    topic = argv[5];
    out = fopen(argv[6], "w");
    if (out == NULL) {
        perror(argv[6]);
        return 1;
    }
    static char buf[1 << 16]; /* written in 64 KiB pieces: the bench counts lines as they come */
    setvbuf(out, buf, _IOFBF, sizeof buf);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    mosquitto_lib_init();
    struct mosquitto *m = mosquitto_new(NULL, true, NULL);
    if (m == NULL) {
        fprintf(stderr, "mqtt_sink: mosquitto_new failed\n");
        return 1;
    }
    mosquitto_username_pw_set(m, argv[3], argv[4]);
    mosquitto_connect_callback_set(m, on_connect);
    mosquitto_message_callback_set(m, on_message);
    int rc = mosquitto_connect(m, argv[1], atoi(argv[2]), 30);
    if (rc != MOSQ_ERR_SUCCESS) {
        fprintf(stderr, "mqtt_sink: %s\n", mosquitto_strerror(rc));
        return 1;
    }
    while (!stop) {
        rc = mosquitto_loop(m, 100, 1);
        if (rc != MOSQ_ERR_SUCCESS) {
            fprintf(stderr, "mqtt_sink: %s\n", mosquitto_strerror(rc));
            break;
        }
    }
    fclose(out);
    mosquitto_destroy(m);
    mosquitto_lib_cleanup();
    return rc == MOSQ_ERR_SUCCESS || stop ? 0 : 1;
}
