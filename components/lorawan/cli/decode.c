/* `lwstack lorawan decode` (cli.h): decodes a LoRaWAN PHYPayload for people, as JSON.
 * Thin I/O around components/lorawan: parse the arguments, call the pure decoders, print. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "lorawan/cli/cli.h"
#include "lorawan/lorawan.h"

#define EXIT_BAD_INPUT 1
#define EXIT_USAGE     2

/* The keys one may pass; raw bytes only, never printed. */
enum key_id {
    KEY_NWK_S,
    KEY_F_NWK_S_INT,
    KEY_S_NWK_S_INT,
    KEY_NWK_S_ENC,
    KEY_APP_S,
    KEY_APP,
    KEY_NWK,
    KEY_COUNT,
};

static const char *const key_flags[KEY_COUNT] = {
    "--nwk-s-key", "--f-nwk-s-int-key", "--s-nwk-s-int-key", "--nwk-s-enc-key",
    "--app-s-key", "--app-key",         "--nwk-key",
};

typedef struct decode_opts {
    const char *hex;
    bool is_11;
    bool version_given;
    bool has_fcnt;
    uint32_t fcnt;
    uint32_t conf_fcnt;
    uint8_t tx_dr;
    uint8_t tx_ch;
    bool has_key[KEY_COUNT];
    lorawan_key_t key[KEY_COUNT];
    uint8_t raw[KEY_COUNT][LORAWAN_KEY_LEN];
} decode_opts_t;

static void usage(FILE *f)
{
    fprintf(f, "usage: lwstack lorawan decode HEX [--lorawan-version 1.0|1.1]\n"
               "         [--nwk-s-key K | --f-nwk-s-int-key K --s-nwk-s-int-key K]\n"
               "         [--nwk-s-enc-key K] [--app-s-key K] [--app-key K] [--nwk-key K]\n"
               "         [--fcnt N] [--conf-fcnt N] [--tx-dr N] [--tx-ch N]\n"
               "\n"
               "Prints the frame as JSON. K is a key as 32 hex digits. --fcnt is the full 32-bit\n"
               "frame counter, or the last one known: the 16 bits on the wire are expanded from\n"
               "it. --conf-fcnt, --tx-dr and --tx-ch enter the LoRaWAN 1.1 uplink MIC.\n");
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "lwstack lorawan: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    usage(stderr);
    return EXIT_USAGE;
}

static bool parse_u32(const char *s, uint32_t max, uint32_t *out)
{
    char *end = NULL;
    if (s == NULL || *s == '\0' || *s == '-')
        return false;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno != 0 || *end != '\0' || v > max)
        return false;
    *out = (uint32_t)v;
    return true;
}

/* Parses argv (after "decode") into *o. Returns 0 or the exit status of a usage error. */
/* Applies one --flag value. Returns 0, or usage_error's exit code naming the flag. */
static int set_flag(decode_opts_t *o, const char *flag, const char *val)
{
    int k = -1;
    for (int j = 0; j < KEY_COUNT; j++)
        if (strcmp(flag, key_flags[j]) == 0)
            k = j;
    if (k >= 0) {
        size_t len = 0;
        if (lorawan_hex_decode(val, strlen(val), o->raw[k], LORAWAN_KEY_LEN, &len) != 0 ||
            len != LORAWAN_KEY_LEN)
            return usage_error("decode: %s must be 32 hex digits", flag);
        o->has_key[k] = true;
    } else if (strcmp(flag, "--lorawan-version") == 0) {
        if (strncmp(val, "1.0", 3) == 0)
            o->is_11 = false;
        else if (strncmp(val, "1.1", 3) == 0)
            o->is_11 = true;
        else
            return usage_error("decode: --lorawan-version must be 1.0.x or 1.1, not %s", val);
        o->version_given = true;
    } else if (strcmp(flag, "--fcnt") == 0) {
        if (!parse_u32(val, UINT32_MAX, &o->fcnt))
            return usage_error("decode: --fcnt must be 0..4294967295, not %s", val);
        o->has_fcnt = true;
    } else if (strcmp(flag, "--conf-fcnt") == 0) {
        if (!parse_u32(val, UINT32_MAX, &o->conf_fcnt))
            return usage_error("decode: --conf-fcnt must be 0..4294967295, not %s", val);
    } else if (strcmp(flag, "--tx-dr") == 0 || strcmp(flag, "--tx-ch") == 0) {
        uint32_t v = 0;
        if (!parse_u32(val, 255, &v))
            return usage_error("decode: bad value %s", val);
        if (flag[5] == 'd')
            o->tx_dr = (uint8_t)v;
        else
            o->tx_ch = (uint8_t)v;
    } else {
        return usage_error("decode: unknown option %s", flag);
    }
    return 0;
}

static int parse_args(int argc, char **argv, decode_opts_t *o)
{
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        if (strncmp(arg, "--", 2) != 0) {
            if (o->hex != NULL)
                return usage_error("decode: more than one HEX argument (%s)", arg);
            o->hex = arg;
            continue;
        }
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            usage(stdout);
            return -1;
        }
        /* --flag=value or --flag value */
        char flag[64];
        const char *eq = strchr(arg, '=');
        const char *val;
        size_t flen = eq ? (size_t)(eq - arg) : strlen(arg);
        if (flen >= sizeof(flag))
            return usage_error("decode: unknown option %s", arg);
        memcpy(flag, arg, flen);
        flag[flen] = '\0';
        static const char *const value_flags[] = {"--lorawan-version", "--fcnt", "--conf-fcnt",
                                                  "--tx-dr", "--tx-ch"};
        bool known = false;
        for (size_t j = 0; j < sizeof(value_flags) / sizeof(value_flags[0]); j++)
            known = known || strcmp(flag, value_flags[j]) == 0;
        for (int j = 0; j < KEY_COUNT; j++)
            known = known || strcmp(flag, key_flags[j]) == 0;
        if (!known)
            return usage_error("decode: unknown option %s", flag);
        if (eq != NULL) {
            val = eq + 1;
        } else {
            if (i + 1 >= argc)
                return usage_error("decode: %s needs a value", flag);
            val = argv[++i];
        }
        int rc = set_flag(o, flag, val);
        if (rc != 0)
            return rc;
    }
    if (o->hex == NULL)
        return usage_error("decode: missing %s", "HEX");
    if (o->has_key[KEY_NWK_S] && (o->has_key[KEY_F_NWK_S_INT] || o->has_key[KEY_S_NWK_S_INT]))
        return usage_error("decode: %s", "--nwk-s-key (1.0) excludes the 1.1 integrity keys");
    if (!o->version_given && (o->has_key[KEY_F_NWK_S_INT] || o->has_key[KEY_S_NWK_S_INT] ||
                              o->has_key[KEY_NWK_S_ENC] || o->has_key[KEY_NWK]))
        o->is_11 = true;
    return 0;
}

static const lorawan_key_t *key(decode_opts_t *o, enum key_id k)
{
    return o->has_key[k] ? &o->key[k] : NULL;
}

static json_t *mac_json(const uint8_t *buf, size_t len, bool uplink, json_t *frame,
                        const char *err_name)
{
    lorawan_mac_cmd_t cmds[LORAWAN_PHY_MAX_LEN];
    size_t n = 0, used = 0;
    int rc = lorawan_mac_cmds_decode(buf, len, uplink, cmds, LORAWAN_PHY_MAX_LEN, &n, &used);
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        const char *name = NULL;
        const lorawan_mac_field_t *f = NULL;
        size_t nf = 0;
        (void)lorawan_mac_cmd_info(cmds[i].cid, uplink, &name, NULL, &f, &nf);
        json_t *jc = json_pack("{s:i,s:s}", "cid", cmds[i].cid, "name", name);
        if (nf > 0) {
            json_t *jf = json_object();
            for (size_t j = 0; j < nf; j++) {
                int64_t v = lorawan_mac_field_get(&cmds[i], &f[j]);
                json_t *jv;
                if (f[j].kind == LORAWAN_MAC_FIELD_BOOL)
                    jv = json_boolean(v != 0);
                else if (f[j].kind == LORAWAN_MAC_FIELD_CLASS && v >= 0 && v <= 2)
                    jv = json_string(v == 0 ? "A" : v == 1 ? "B" : "C");
                else
                    jv = json_integer(v);
                json_object_set_new(jf, f[j].name, jv);
            }
            json_object_set_new(jc, "fields", jf);
        }
        json_array_append_new(arr, jc);
    }
    if (rc != 0) {
        char msg[128];
        snprintf(msg, sizeof(msg), "%s at byte %zu (after %zu commands)", lorawan_strerror(rc),
                 used, n);
        json_object_set_new(frame, err_name, json_string(msg));
    }
    return arr;
}

/* The MIC of a data frame, with the keys given (1.0: NwkSKey; 1.1: the integrity keys). */
static void data_mic(decode_opts_t *o, const uint8_t *buf, size_t len, bool uplink, uint32_t fcnt,
                     json_t *j)
{
    uint8_t mic[LORAWAN_MIC_LEN];
    int rc = -1;
    size_t msg_len = len - LORAWAN_MIC_LEN;
    if (!o->is_11 && key(o, KEY_NWK_S) != NULL) {
        rc = uplink ? lorawan_mic_data_up_10(key(o, KEY_NWK_S), buf, msg_len, fcnt, mic)
                    : lorawan_mic_data_down(key(o, KEY_NWK_S), buf, msg_len, fcnt, 0, mic);
    } else if (o->is_11 && uplink && key(o, KEY_F_NWK_S_INT) && key(o, KEY_S_NWK_S_INT)) {
        rc = lorawan_mic_data_up_11(key(o, KEY_F_NWK_S_INT), key(o, KEY_S_NWK_S_INT), buf, msg_len,
                                    fcnt, o->conf_fcnt, o->tx_dr, o->tx_ch, mic);
    } else if (o->is_11 && !uplink && key(o, KEY_S_NWK_S_INT)) {
        rc = lorawan_mic_data_down(key(o, KEY_S_NWK_S_INT), buf, msg_len, fcnt, o->conf_fcnt, mic);
    }
    if (rc == 0)
        json_object_set_new(j, "mic_valid", json_boolean(lorawan_mic_check(mic, buf, len) == 0));
}

static void decode_data(decode_opts_t *o, const uint8_t *buf, size_t len, const lorawan_phy_t *p,
                        json_t *j)
{
    bool uplink = false;
    (void)lorawan_mtype_is_data(p->mtype, &uplink);
    const lorawan_data_t *d = &p->u.data;
    lorawan_cli_json_be(j, "dev_addr", d->dev_addr, 4);
    json_t *fc = json_object();
    json_object_set_new(fc, "adr", json_boolean(d->fctrl.adr));
    if (uplink) {
        json_object_set_new(fc, "adr_ack_req", json_boolean(d->fctrl.adr_ack_req));
        json_object_set_new(fc, "class_b", json_boolean(d->fctrl.class_b));
    } else {
        json_object_set_new(fc, "f_pending", json_boolean(d->fctrl.f_pending));
    }
    json_object_set_new(fc, "ack", json_boolean(d->fctrl.ack));
    json_object_set_new(fc, "fopts_len", json_integer(d->fctrl.fopts_len));
    json_object_set_new(j, "fctrl", fc);
    json_object_set_new(j, "fcnt16", json_integer(d->fcnt16));
    uint32_t fcnt = d->fcnt16;
    if (o->has_fcnt) {
        if ((o->fcnt & 0xffffu) == d->fcnt16)
            fcnt = o->fcnt;
        else if (lorawan_fcnt_expand(o->fcnt, d->fcnt16, &fcnt) != 0)
            fcnt = d->fcnt16;
    }
    json_object_set_new(j, "fcnt", json_integer(fcnt));
    lorawan_cli_json_hex(j, "fopts_hex", d->fopts, d->fopts_len);
    json_object_set_new(j, "fport", d->has_fport ? json_integer(d->fport) : json_null());
    lorawan_cli_json_hex(j, "frm_payload_hex", d->frm_payload, d->frm_payload_len);
    lorawan_cli_json_hex(j, "mic", p->mic, LORAWAN_MIC_LEN);

    /* FOpts: clear in 1.0, encrypted with NwkSEncKey in 1.1 (1.1 §4.3.1.6). */
    if (d->fopts_len > 0) {
        uint8_t fopts[LORAWAN_FOPTS_MAX_LEN];
        bool clear = !o->is_11;
        memcpy(fopts, d->fopts, d->fopts_len);
        if (o->is_11 && key(o, KEY_NWK_S_ENC) != NULL) {
            /* FOpts on a downlink with FPort > 0 use AFCntDown (errata). */
            bool a_fcnt = !uplink && d->has_fport && d->fport > 0;
            (void)lorawan_fopts_encrypt(key(o, KEY_NWK_S_ENC), !uplink, a_fcnt, d->dev_addr, fcnt,
                                        d->fopts, d->fopts_len, fopts);
            lorawan_cli_json_hex(j, "fopts_decrypted_hex", fopts, d->fopts_len);
            clear = true;
        }
        if (clear)
            json_object_set_new(j, "mac_commands",
                                mac_json(fopts, d->fopts_len, uplink, j, "mac_commands_error"));
    }

    /* FRMPayload: AppSKey for FPort > 0, NwkSKey / NwkSEncKey for FPort 0. */
    if (d->has_fport && d->frm_payload_len > 0) {
        const lorawan_key_t *k = d->fport > 0 ? key(o, KEY_APP_S)
                                 : o->is_11   ? key(o, KEY_NWK_S_ENC)
                                              : key(o, KEY_NWK_S);
        if (k != NULL) {
            uint8_t plain[LORAWAN_PHY_MAX_LEN];
            lorawan_payload_encrypt(k, !uplink, d->dev_addr, fcnt, d->frm_payload,
                                    d->frm_payload_len, plain);
            lorawan_cli_json_hex(j, "frm_payload_decrypted_hex", plain, d->frm_payload_len);
            if (d->fport == 0)
                json_object_set_new(
                    j, "mac_commands",
                    mac_json(plain, d->frm_payload_len, uplink, j, "mac_commands_error"));
        }
    }

    data_mic(o, buf, len, uplink, fcnt, j);
}

static void decode_join_accept(decode_opts_t *o, const uint8_t *buf, size_t len, json_t *j)
{
    const lorawan_key_t *k = key(o, KEY_APP) ? key(o, KEY_APP) : key(o, KEY_NWK);
    lorawan_cli_json_hex(j, "encrypted_hex", buf + 1, len - 1);
    if (k == NULL)
        return;
    uint8_t plain[LORAWAN_JOIN_ACCEPT_CFLIST_LEN];
    lorawan_join_accept_t ja;
    if (lorawan_join_accept_decrypt(k, buf, len, plain, sizeof(plain)) != 0 ||
        lorawan_join_accept_parse(plain, len, &ja) != 0)
        return;
    json_t *dj = json_object();
    lorawan_cli_json_hex(dj, "plaintext_hex", plain, len);
    json_object_set_new(dj, "join_nonce", json_integer(ja.join_nonce));
    lorawan_cli_json_be(dj, "net_id", ja.net_id, 3);
    lorawan_cli_json_be(dj, "dev_addr", ja.dev_addr, 4);
    json_object_set_new(dj, "dl_settings",
                        json_pack("{s:b,s:i,s:i}", "opt_neg", ja.opt_neg, "rx1_dr_offset",
                                  ja.rx1_dr_offset, "rx2_data_rate", ja.rx2_data_rate));
    json_object_set_new(dj, "rx_delay", json_integer(ja.rx_delay));
    if (ja.cflist != NULL)
        lorawan_cli_json_hex(dj, "cflist_hex", ja.cflist, LORAWAN_CFLIST_LEN);
    else
        json_object_set_new(dj, "cflist_hex", json_null());
    lorawan_cli_json_hex(dj, "mic", ja.mic, LORAWAN_MIC_LEN);
    json_object_set_new(j, "join_accept", dj);
    /* With OptNeg set (1.1) the MIC needs JSIntKey, JoinEUI and DevNonce: not checked here. */
    if (!ja.opt_neg) {
        uint8_t mic[LORAWAN_MIC_LEN];
        if (lorawan_mic_join_accept_10(k, plain, len - LORAWAN_MIC_LEN, mic) == 0)
            json_object_set_new(j, "mic_valid",
                                json_boolean(lorawan_mic_check(mic, plain, len) == 0));
    }
}

static void decode_join_request(decode_opts_t *o, const uint8_t *buf, size_t len,
                                const lorawan_phy_t *p, json_t *j)
{
    lorawan_cli_json_be(j, "join_eui", p->u.join_request.join_eui, 8);
    lorawan_cli_json_be(j, "dev_eui", p->u.join_request.dev_eui, 8);
    json_object_set_new(j, "dev_nonce", json_integer(p->u.join_request.dev_nonce));
    lorawan_cli_json_hex(j, "mic", p->mic, LORAWAN_MIC_LEN);
    /* 1.0: AppKey; 1.1: NwkKey (1.1 §6.2.2). */
    const lorawan_key_t *k = o->is_11 && key(o, KEY_NWK) ? key(o, KEY_NWK)
                             : key(o, KEY_APP)           ? key(o, KEY_APP)
                                                         : key(o, KEY_NWK);
    uint8_t mic[LORAWAN_MIC_LEN];
    if (k != NULL && lorawan_mic_join_request(k, buf, len - LORAWAN_MIC_LEN, mic) == 0)
        json_object_set_new(j, "mic_valid", json_boolean(lorawan_mic_check(mic, buf, len) == 0));
}

static void decode_rejoin(decode_opts_t *o, const uint8_t *buf, size_t len, const lorawan_phy_t *p,
                          json_t *j)
{
    const lorawan_rejoin_request_t *r = &p->u.rejoin;
    json_object_set_new(j, "rejoin_type", json_integer(r->rejoin_type));
    if (r->rejoin_type == 1)
        lorawan_cli_json_be(j, "join_eui", r->join_eui, 8);
    else
        lorawan_cli_json_be(j, "net_id", r->net_id, 3);
    lorawan_cli_json_be(j, "dev_eui", r->dev_eui, 8);
    json_object_set_new(j, "rj_count", json_integer(r->rj_count));
    lorawan_cli_json_hex(j, "mic", p->mic, LORAWAN_MIC_LEN);
    /* Types 0 and 2: SNwkSIntKey; type 1: JSIntKey, which this tool does not take. */
    uint8_t mic[LORAWAN_MIC_LEN];
    if (r->rejoin_type != 1 && key(o, KEY_S_NWK_S_INT) != NULL &&
        lorawan_mic_join_request(key(o, KEY_S_NWK_S_INT), buf, len - LORAWAN_MIC_LEN, mic) == 0)
        json_object_set_new(j, "mic_valid", json_boolean(lorawan_mic_check(mic, buf, len) == 0));
}

static int cmd_decode(int argc, char **argv)
{
    static decode_opts_t o; /* static: keeps key bytes off the stack frame of callers */
    memset(&o, 0, sizeof(o));
    int rc = parse_args(argc, argv, &o);
    if (rc != 0)
        return rc < 0 ? 0 : rc;

    json_t *j = NULL;
    uint8_t buf[LORAWAN_PHY_MAX_LEN];
    size_t len = 0;
    size_t hex_len = strlen(o.hex);
    int ok = EXIT_BAD_INPUT;
    for (int k = 0; k < KEY_COUNT; k++) {
        if (o.has_key[k] && lorawan_key_init(&o.key[k], o.raw[k]) != 0) {
            fprintf(stderr, "lwstack lorawan decode: cannot initialise %s\n", key_flags[k]);
            goto out;
        }
    }
    if (hex_len > 2 * LORAWAN_PHY_MAX_LEN) {
        fprintf(stderr, "lwstack lorawan decode: frame longer than %u bytes\n",
                LORAWAN_PHY_MAX_LEN);
        goto out;
    }
    rc = lorawan_hex_decode(o.hex, hex_len, buf, sizeof(buf), &len);
    if (rc != 0) {
        fprintf(stderr, "lwstack lorawan decode: HEX is not valid hex (%s)\n",
                hex_len % 2 ? "odd number of digits" : "a character is not 0-9, a-f or A-F");
        goto out;
    }
    lorawan_phy_t p;
    rc = lorawan_phy_decode(buf, len, &p);
    if (rc != 0) {
        fprintf(stderr, "lwstack lorawan decode: cannot decode %zu-byte frame: %s (%s)\n", len,
                lorawan_error_message(rc), lorawan_strerror(rc));
        goto out;
    }

    j = json_object();
    json_object_set_new(j, "lorawan_version", json_string(o.is_11 ? "1.1" : "1.0"));
    json_object_set_new(j, "mtype", json_string(lorawan_mtype_name(p.mtype)));
    json_object_set_new(j, "major", json_integer(p.major));
    json_object_set_new(j, "size", json_integer((json_int_t)len));
    if (lorawan_mtype_is_data(p.mtype, NULL)) {
        decode_data(&o, buf, len, &p, j);
    } else if (p.mtype == LORAWAN_MTYPE_JOIN_REQUEST) {
        decode_join_request(&o, buf, len, &p, j);
    } else if (p.mtype == LORAWAN_MTYPE_REJOIN_REQUEST) {
        decode_rejoin(&o, buf, len, &p, j);
    } else if (p.mtype == LORAWAN_MTYPE_JOIN_ACCEPT) {
        decode_join_accept(&o, buf, len, j);
    } else {
        lorawan_cli_json_hex(j, "payload_hex", p.mac_payload, p.mac_payload_len);
    }
    if (json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0) {
        fprintf(stderr, "lwstack lorawan decode: cannot write output\n");
        goto out;
    }
    fputc('\n', stdout);
    ok = 0;
out:
    json_decref(j);
    for (int k = 0; k < KEY_COUNT; k++)
        if (o.has_key[k])
            lorawan_key_destroy(&o.key[k]);
    memset(&o, 0, sizeof(o));
    return ok;
}

int lorawan_cli_main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (strcmp(argv[1], "decode") == 0)
        return cmd_decode(argc - 2, argv + 2);
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    return usage_error("unknown subcommand %s", argv[1]);
}
