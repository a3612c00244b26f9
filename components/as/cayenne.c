/* CayenneLPP (Cayenne Low Power Payload) as The Things Stack decodes and encodes it
 * (pkg/messageprocessors/cayennelpp over TheThingsNetwork/go-cayenne-lib): the same types,
 * scales, signedness (the barometer is read as int16, as there) and keys. Pure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "as/fmt_private.h"

static int16_t be16s(const uint8_t *p)
{
    return (int16_t)(uint16_t)((unsigned)p[0] << 8 | p[1]);
}

/* A 24-bit two's complement value (GPS). */
static int32_t be24s(const uint8_t *p)
{
    int32_t v = (int32_t)((uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2]);
    if (v & 0x800000)
        v -= 0x1000000;
    return v;
}

/* Bytes of a value of each type; 0: unknown. */
static size_t type_size(uint8_t type)
{
    switch (type) {
    case CAYENNE_DIGITAL_IN:
    case CAYENNE_DIGITAL_OUT:
    case CAYENNE_PRESENCE:
    case CAYENNE_HUMIDITY:
        return 1;
    case CAYENNE_ANALOG_IN:
    case CAYENNE_ANALOG_OUT:
    case CAYENNE_LUMINOSITY:
    case CAYENNE_TEMPERATURE:
    case CAYENNE_BAROMETER:
        return 2;
    case CAYENNE_ACCELEROMETER:
    case CAYENNE_GYROMETER:
        return 6;
    case CAYENNE_GPS:
        return 9;
    default:
        return 0;
    }
}

int cayenne_decode_uplink(const uint8_t *p, size_t len, cayenne_value_t *out, size_t cap)
{
    size_t n = 0, i = 0;
    while (i < len) {
        /* go-cayenne-lib reads channel and type together: a lone trailing byte is an error */
        if (len - i < 2)
            return CAYENNE_E_SHORT;
        uint8_t channel = p[i], type = p[i + 1];
        i += 2;
        size_t size = type_size(type);
        if (size == 0)
            return CAYENNE_E_TYPE;
        if (len - i < size)
            return CAYENNE_E_SHORT;
        if (n == cap)
            return CAYENNE_E_FULL;
        cayenne_value_t *v = &out[n++];
        memset(v, 0, sizeof *v);
        v->channel = channel;
        v->type = type;
        v->n = 1;
        const uint8_t *q = p + i;
        switch (type) {
        case CAYENNE_DIGITAL_IN:
        case CAYENNE_DIGITAL_OUT:
        case CAYENNE_PRESENCE:
            v->v[0] = q[0];
            break;
        case CAYENNE_HUMIDITY:
            v->v[0] = (double)q[0] / 2;
            break;
        case CAYENNE_ANALOG_IN:
        case CAYENNE_ANALOG_OUT:
            v->v[0] = (double)be16s(q) / 100;
            break;
        case CAYENNE_LUMINOSITY:
            v->v[0] = (double)((unsigned)q[0] << 8 | q[1]);
            break;
        case CAYENNE_TEMPERATURE:
        case CAYENNE_BAROMETER:
            v->v[0] = (double)be16s(q) / 10;
            break;
        case CAYENNE_ACCELEROMETER:
        case CAYENNE_GYROMETER: {
            double scale = type == CAYENNE_ACCELEROMETER ? 1000 : 100;
            v->n = 3;
            for (int k = 0; k < 3; k++)
                v->v[k] = (double)be16s(q + 2 * k) / scale;
            break;
        }
        case CAYENNE_GPS:
            v->n = 3;
            v->v[0] = (double)be24s(q) / 10000;
            v->v[1] = (double)be24s(q + 3) / 10000;
            v->v[2] = (double)be24s(q + 6) / 100;
            break;
        }
        i += size;
    }
    return (int)n;
}

const char *cayenne_key(uint8_t type, uint8_t channel, char *buf, size_t cap)
{
    const char *name;
    switch (type) {
    case CAYENNE_DIGITAL_IN:
        name = "digital_in";
        break;
    case CAYENNE_DIGITAL_OUT:
        name = "digital_out";
        break;
    case CAYENNE_ANALOG_IN:
        name = "analog_in";
        break;
    case CAYENNE_ANALOG_OUT:
        name = "analog_out";
        break;
    case CAYENNE_LUMINOSITY:
        name = "luminosity";
        break;
    case CAYENNE_PRESENCE:
        name = "presence";
        break;
    case CAYENNE_TEMPERATURE:
        name = "temperature";
        break;
    case CAYENNE_HUMIDITY:
        name = "relative_humidity";
        break;
    case CAYENNE_ACCELEROMETER:
        name = "accelerometer";
        break;
    case CAYENNE_BAROMETER:
        name = "barometric_pressure";
        break;
    case CAYENNE_GYROMETER:
        name = "gyrometer";
        break;
    case CAYENNE_GPS:
        name = "gps";
        break;
    default:
        return NULL;
    }
    int n = snprintf(buf, cap, "%s_%u", name, channel);
    if (n < 0 || (size_t)n >= cap)
        return NULL;
    return buf;
}

int cayenne_decode_downlink(const uint8_t *p, size_t len, cayenne_value_t *out, size_t cap)
{
    size_t n = 0, i = 0;
    while (i < len) {
        uint8_t channel = p[i++];
        if (channel == 0xFF)
            break;
        if (len - i < 2)
            return CAYENNE_E_SHORT;
        if (n == cap)
            return CAYENNE_E_FULL;
        cayenne_value_t *v = &out[n++];
        memset(v, 0, sizeof *v);
        v->channel = channel;
        v->type = 0;
        v->n = 1;
        v->v[0] = (double)be16s(p + i) / 100;
        i += 2;
    }
    return (int)n;
}

int cayenne_encode_downlink(const cayenne_value_t *in, size_t n, uint8_t *buf, size_t cap)
{
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        if (cap - len < 3)
            return CAYENNE_E_FULL;
        /* Go's int16(value * 100): truncation toward zero; out of range is unspecified in
         * Go, here clamped so that C has no undefined behaviour either. */
        double scaled = in[i].v[0] * 100;
        int16_t v;
        if (!(scaled > -32768.0)) /* NaN too */
            v = scaled != scaled ? 0 : INT16_MIN;
        else if (scaled >= 32767.0)
            v = INT16_MAX;
        else
            v = (int16_t)scaled;
        buf[len++] = in[i].channel;
        buf[len++] = (uint8_t)((uint16_t)v >> 8);
        buf[len++] = (uint8_t)v;
    }
    return (int)len;
}

int cayenne_parse_name(const char *name, size_t *key_len, uint8_t *channel)
{
    const char *us = strrchr(name, '_');
    if (us == NULL || us == name)
        return -1;
    const char *d = us + 1;
    /* strconv.Atoi: an optional sign, then digits */
    const char *c = d;
    if (*c == '+' || *c == '-')
        c++;
    if (*c == '\0')
        return -1;
    long v = 0;
    for (; *c != '\0'; c++) {
        if (*c < '0' || *c > '9')
            return -1;
        v = v * 10 + (*c - '0');
        if (v > 1000)
            return -1;
    }
    if (d[0] == '-' && v != 0)
        return -1;
    if (v > 255)
        return -1;
    *key_len = (size_t)(us - name);
    *channel = (uint8_t)v;
    return 0;
}
