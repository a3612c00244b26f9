/* Fuzz target: the MQTT codec (components/as/mqtt_codec.c) on what a client sends. The
 * first byte picks the version the connection speaks (3.1.1 or 5.0), the rest is a stream of
 * packets framed as the server frames them. Every decoded field must lie inside its packet;
 * a decoded PUBLISH re-encoded by the server's encoder must decode to the same topic,
 * packet identifier and payload; accepted filters must be inside the client's application
 * and every decoded topic is matched against them. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "as/mqtt_codec_private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t out[70000];

static void in_packet(mqtt_str_t s, const uint8_t *p, size_t len)
{
    if (s.len > 0 && (s.p < p || s.p + s.len > p + len))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t version = (data[0] & 1) ? MQTT_V5 : MQTT_V311;
    data++, size--;
    size_t off = 0;
    static mqtt_packet_t pk, back;
    while (off < size) {
        mqtt_fixed_t fh;
        int rc = mqtt_frame(data + off, size - off, 65536, &fh);
        if (rc <= 0)
            break;
        size_t plen = (size_t)fh.header_len + fh.remaining;
        if (plen > size - off || plen > 65536)
            abort();
        const uint8_t *p = data + off;
        off += plen;
        rc = mqtt_decode(version, p, plen, 65536, &pk);
        if (rc > 0)
            abort();
        if (rc != MQTT_OK) {
            if (strcmp(mqtt_err_name(rc), "unknown") == 0)
                abort();
            continue;
        }
        switch (pk.fh.type) {
        case MQTT_CONNECT:
            in_packet(pk.u.connect.client_id, p, plen);
            in_packet(pk.u.connect.username, p, plen);
            in_packet(pk.u.connect.password, p, plen);
            in_packet(pk.u.connect.will_topic, p, plen);
            in_packet(pk.u.connect.will_payload, p, plen);
            break;
        case MQTT_PUBLISH: {
            const mqtt_publish_t *pub = &pk.u.publish;
            in_packet(pub->topic, p, plen);
            in_packet(pub->payload, p, plen);
            if (pub->qos == 3 || (pub->qos > 0 && pub->packet_id == 0))
                abort();
            if (pub->topic.len == 0 || pub->qos == 2)
                break;
            size_t n = mqtt_encode_publish(
                version, pub->qos, pub->dup, pub->retain, (const char *)pub->topic.p,
                pub->topic.len, pub->packet_id, pub->payload.p, pub->payload.len, out, sizeof out);
            if (n == 0 ||
                n != mqtt_publish_size(version, pub->qos, pub->topic.len, pub->payload.len))
                abort();
            if (mqtt_decode(version, out, n, 0, &back) != MQTT_OK)
                abort();
            if (back.u.publish.topic.len != pub->topic.len ||
                memcmp(back.u.publish.topic.p, pub->topic.p, pub->topic.len) != 0 ||
                back.u.publish.packet_id != pub->packet_id ||
                back.u.publish.payload.len != pub->payload.len ||
                (pub->payload.len > 0 &&
                 memcmp(back.u.publish.payload.p, pub->payload.p, pub->payload.len) != 0))
                abort();
            char dev[40];
            bool replace;
            (void)mqtt_topic_parse_downlink("app1@acme", (const char *)pub->topic.p, pub->topic.len,
                                            dev, sizeof dev, &replace);
            break;
        }
        case MQTT_SUBSCRIBE:
        case MQTT_UNSUBSCRIBE: {
            const mqtt_subscribe_t *s = &pk.u.subscribe;
            if (s->n == 0 || s->n > MQTT_FILTERS_MAX || s->packet_id == 0)
                abort();
            for (size_t i = 0; i < s->n; i++) {
                in_packet(s->f[i].filter, p, plen);
                char acc[300];
                int al = mqtt_topic_accept_filter("app1@acme", (const char *)s->f[i].filter.p,
                                                  s->f[i].filter.len, acc, sizeof acc);
                if (al < 0)
                    continue;
                if (strncmp(acc, "v3/app1@acme", 12) != 0 || (acc[12] != '\0' && acc[12] != '/'))
                    abort();
                if (mqtt_topic_filter_check((const uint8_t *)acc, (size_t)al) != MQTT_OK)
                    abort();
                /* The narrowed filter never matches another application's topic. */
                const char *other = "v3/app1@acmf/devices/d/up";
                if (mqtt_topic_match(acc, (size_t)al, other, strlen(other)))
                    abort();
            }
            break;
        }
        default:
            break;
        }
    }
    return 0;
}
