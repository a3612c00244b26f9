/* Tests of components/gs/bs_codec.c: the LoRa Basics Station LNS codec. The station messages
 * are the verbatim samples of ../shared/reference/basic-station.md (Basic Station 2.0.6
 * against a test LNS) and the id6 table there and in the station's src/selftest_ujenc.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "gs/bs_codec_private.h"

static gs_bs_msg_t msg;

static int decode(const char *json)
{
    return gs_bs_decode(json, strlen(json), &msg);
}

static void hex_of(const uint8_t *b, size_t n, char *out)
{
    for (size_t k = 0; k < n; k++)
        sprintf(out + 2 * k, "%02x", b[k]);
    out[2 * n] = '\0';
}

static void assert_phy(const char *want)
{
    char got[2 * GS_BS_PHY_MAX + 1];
    hex_of(msg.u.up.phy, msg.u.up.phy_len, got);
    assert_string_equal(got, want);
}

/* basic-station.md §2 */
static void test_gs_bs_decode__version_with_nulls(void **state)
{
    (void)state;
    assert_int_equal(decode("{\"msgtype\": \"version\", \"station\": \"2.0.6(linux/testsim)\", "
                            "\"firmware\": null, \"package\": null, \"model\": \"linux\", "
                            "\"protocol\": 2, \"features\": \"rmtsh\"}"),
                     GS_BS_OK);
    assert_int_equal(msg.type, GS_BS_MSG_VERSION);
    assert_string_equal(msg.u.version.station, "2.0.6(linux/testsim)");
    assert_string_equal(msg.u.version.firmware, "");
    assert_string_equal(msg.u.version.package, "");
    assert_string_equal(msg.u.version.model, "linux");
    assert_string_equal(msg.u.version.features, "rmtsh");
    assert_int_equal(msg.u.version.protocol, 2);
    assert_false(msg.u.version.production);

    assert_int_equal(decode("{\"msgtype\":\"version\",\"features\":\"rmtsh prod gps\"}"), GS_BS_OK);
    assert_true(msg.u.version.production);
    assert_int_equal(decode("{\"msgtype\":\"version\",\"features\":\"production\"}"), GS_BS_OK);
    assert_false(msg.u.version.production);
    assert_int_equal(decode("{\"msgtype\":\"version\",\"station\":5}"), GS_BS_E_FIELD);
    assert_string_equal(msg.field, "station");
}

/* basic-station.md §4: "That frame was 40f7ec10e081000002015a171220b0c6d6470fc3". */
static void test_gs_bs_decode__updf_rebuilds_phypayload(void **state)
{
    (void)state;
    assert_int_equal(
        decode("{\"msgtype\": \"updf\", \"MHdr\": 64, \"DevAddr\": -535761673, \"FCtrl\": 129, "
               "\"FCnt\": 0, \"FOpts\": \"02\", \"FPort\": 1, \"FRMPayload\": \"5A171220B0C6\", "
               "\"MIC\": -1022408746, \"RefTime\": 1796107812.284646, \"DR\": 0, \"Freq\": "
               "868300000, \"upinfo\": {\"rctx\": 0, \"xtime\": 19140298685263198, \"gpstime\": 0, "
               "\"fts\": -1, \"rssi\": -110, \"snr\": -12.5, \"rxtime\": 1796107812.284651}}"),
        GS_BS_OK);
    assert_int_equal(msg.type, GS_BS_MSG_UPDF);
    assert_phy("40f7ec10e081000002015a171220b0c6d6470fc3");
    assert_int_equal(msg.u.up.dev_addr, 0xe010ecf7u);
    assert_int_equal(msg.u.up.fcnt, 0);
    assert_int_equal(msg.u.up.dr, 0);
    assert_int_equal(msg.u.up.freq_hz, 868300000u);
    assert_true(msg.u.up.ref_time_s == 1796107812.284646);
    assert_int_equal(msg.u.up.info.xtime, 19140298685263198LL);
    assert_int_equal(gs_bs_xtime_session(msg.u.up.info.xtime), 0x44);
    assert_int_equal(msg.u.up.info.rctx, 0);
    assert_int_equal(msg.u.up.info.gpstime_us, 0);
    assert_int_equal(msg.u.up.info.fts, -1);
    assert_true(msg.u.up.info.rssi == -110);
    assert_true(msg.u.up.info.snr == -12.5);
    assert_true(msg.u.up.info.rxtime_s == 1796107812.284651);
}

#define UPINFO                                                                                     \
    "\"DR\":5,\"Freq\":868100000,\"upinfo\":{\"rctx\":0,\"xtime\":57,\"rssi\":-57,\"snr\":7.25}"

static void test_gs_bs_decode__updf_confirmed_and_spellings(void **state)
{
    (void)state;
    /* §4 "Confirmed up": 80040302010300000673070ae264d4f7e117d2c0 */
    assert_int_equal(
        decode("{\"msgtype\":\"updf\",\"MHdr\":128,\"DevAddr\":16909060,\"FCtrl\":3,"
               "\"FCnt\":0,\"FOpts\":\"067307\",\"FPort\":10,\"FRMPayload\":\"E264D4F7\","
               "\"MIC\":-1059973151," UPINFO "}"),
        GS_BS_OK);
    assert_phy("80040302010300000673070ae264d4f7e117d2c0");
    /* The same with the unsigned readings of DevAddr/MIC and TTS's "Fcnt" spelling. */
    assert_int_equal(
        decode("{\"msgtype\":\"updf\",\"MHdr\":128,\"DevAddr\":16909060,\"FCtrl\":3,"
               "\"Fcnt\":0,\"FOpts\":\"067307\",\"FPort\":10,\"FRMPayload\":\"e264d4f7\","
               "\"MIC\":3235000000," UPINFO "}"),
        GS_BS_OK);
    assert_phy("80040302010300000673070ae264d4f7c02ed2c0");
    /* dndf-like FPort -1 without payload: no FPort byte. FCnt 0x1234 little-endian. */
    assert_int_equal(decode("{\"msgtype\":\"updf\",\"MHdr\":64,\"DevAddr\":16909060,\"FCtrl\":0,"
                            "\"FCnt\":4660,\"FOpts\":\"\",\"FPort\":-1,\"FRMPayload\":\"\","
                            "\"MIC\":-272716322," UPINFO "}"),
                     GS_BS_OK);
    assert_phy("4004030201003412deadbeef");
    assert_int_equal(msg.u.up.fcnt, 0x1234);
}

static void test_gs_bs_decode__updf_errors(void **state)
{
    (void)state;
    static const struct {
        const char *json;
        int rc;
        const char *field;
    } cases[] = {
        /* FCtrl says one FOpts byte, two sent */
        {"{\"msgtype\":\"updf\",\"MHdr\":64,\"DevAddr\":1,\"FCtrl\":1,\"FCnt\":0,\"FOpts\":"
         "\"0203\","
         "\"FPort\":1,\"FRMPayload\":\"\",\"MIC\":0," UPINFO "}",
         GS_BS_E_FIELD, "FOpts"},
        /* join-request MHDR in an updf */
        {"{\"msgtype\":\"updf\",\"MHdr\":0,\"DevAddr\":1,\"FCtrl\":0,\"FCnt\":0,\"FOpts\":\"\","
         "\"FPort\":1,\"FRMPayload\":\"\",\"MIC\":0," UPINFO "}",
         GS_BS_E_FIELD, "MHdr"},
        /* Major 1 */
        {"{\"msgtype\":\"updf\",\"MHdr\":65,\"DevAddr\":1,\"FCtrl\":0,\"FCnt\":0,\"FOpts\":\"\","
         "\"FPort\":1,\"FRMPayload\":\"\",\"MIC\":0," UPINFO "}",
         GS_BS_E_FIELD, "MHdr"},
        /* payload without FPort */
        {"{\"msgtype\":\"updf\",\"MHdr\":64,\"DevAddr\":1,\"FCtrl\":0,\"FCnt\":0,\"FOpts\":\"\","
         "\"FPort\":-1,\"FRMPayload\":\"00\",\"MIC\":0," UPINFO "}",
         GS_BS_E_FIELD, "FRMPayload"},
        {"{\"msgtype\":\"updf\",\"MHdr\":64,\"DevAddr\":1,\"FCtrl\":0,\"FCnt\":65536,\"FOpts\":"
         "\"\","
         "\"FPort\":1,\"FRMPayload\":\"\",\"MIC\":0," UPINFO "}",
         GS_BS_E_FIELD, "FCnt"},
        {"{\"msgtype\":\"updf\",\"MHdr\":64,\"DevAddr\":4294967296,\"FCtrl\":0,\"FCnt\":0,"
         "\"FOpts\":\"\",\"FPort\":1,\"FRMPayload\":\"\",\"MIC\":0," UPINFO "}",
         GS_BS_E_FIELD, "DevAddr"},
        {"{\"msgtype\":\"updf\",\"MHdr\":64,\"DevAddr\":1,\"FCtrl\":0,\"FCnt\":0,\"FOpts\":\"\","
         "\"FPort\":1,\"FRMPayload\":\"0g\",\"MIC\":0," UPINFO "}",
         GS_BS_E_FIELD, "FRMPayload"},
        {"{\"msgtype\":\"updf\",\"MHdr\":64,\"DevAddr\":1,\"FCtrl\":0,\"FCnt\":0,\"FOpts\":\"\","
         "\"FPort\":1,\"FRMPayload\":\"\"," UPINFO "}",
         GS_BS_E_MISSING, "MIC"},
        /* no xtime: a downlink could not be timed (TTS drops these too) */
        {"{\"msgtype\":\"updf\",\"MHdr\":64,\"DevAddr\":1,\"FCtrl\":0,\"FCnt\":0,\"FOpts\":\"\","
         "\"FPort\":1,\"FRMPayload\":\"\",\"MIC\":0,\"DR\":0,\"Freq\":868100000,"
         "\"upinfo\":{\"rctx\":0}}",
         GS_BS_E_MISSING, "upinfo.xtime"},
        {"{\"msgtype\":\"updf\",\"MHdr\":64,\"DevAddr\":1,\"FCtrl\":0,\"FCnt\":0,\"FOpts\":\"\","
         "\"FPort\":1,\"FRMPayload\":\"\",\"MIC\":0,\"DR\":0,\"Freq\":868100000,"
         "\"upinfo\":{\"xtime\":0}}",
         GS_BS_E_FIELD, "upinfo.xtime"},
        {"{\"msgtype\":\"updf\",\"MHdr\":64,\"DevAddr\":1,\"FCtrl\":0,\"FCnt\":0,\"FOpts\":\"\","
         "\"FPort\":1,\"FRMPayload\":\"\",\"MIC\":0,\"DR\":16,\"Freq\":868100000,"
         "\"upinfo\":{\"xtime\":1}}",
         GS_BS_E_FIELD, "DR"},
        {"{\"msgtype\":\"updf\",\"MHdr\":64,\"DevAddr\":1,\"DevAddr\":2}", GS_BS_E_FIELD,
         "DevAddr"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        int rc = decode(cases[k].json);
        if (rc != cases[k].rc || msg.field == NULL || strcmp(msg.field, cases[k].field) != 0)
            fail_msg("case %zu: rc %d field %s", k, rc, msg.field ? msg.field : "(null)");
    }
    /* 255 bytes is the most: 8 + 1 + 242 + 4 = 255 fits, 243 does not. */
    char json[1200], frm[2 * 243 + 1];
    memset(frm, 'a', sizeof frm - 1);
    frm[2 * 243] = '\0';
    snprintf(json, sizeof json,
             "{\"msgtype\":\"updf\",\"MHdr\":64,\"DevAddr\":1,\"FCtrl\":0,\"FCnt\":0,"
             "\"FOpts\":\"\",\"FPort\":1,\"FRMPayload\":\"%s\",\"MIC\":0," UPINFO "}",
             frm);
    assert_int_equal(decode(json), GS_BS_E_FIELD);
    frm[2 * 242] = '\0';
    snprintf(json, sizeof json,
             "{\"msgtype\":\"updf\",\"MHdr\":64,\"DevAddr\":1,\"FCtrl\":0,\"FCnt\":0,"
             "\"FOpts\":\"\",\"FPort\":1,\"FRMPayload\":\"%s\",\"MIC\":0," UPINFO "}",
             frm);
    assert_int_equal(decode(json), GS_BS_OK);
    assert_int_equal(msg.u.up.phy_len, 255);
}

/* §4 jreq: "The frame was 00341200d07ed5b370efcdab89674523010500f9697009". */
static void test_gs_bs_decode__jreq_and_rejoin(void **state)
{
    (void)state;
    assert_int_equal(
        decode("{\"msgtype\": \"jreq\", \"MHdr\": 0, \"JoinEui\": \"70-B3-D5-7E-D0-00-12-34\", "
               "\"DevEui\": \"01-23-45-67-89-AB-CD-EF\", \"DevNonce\": 5, \"MIC\": 158362105, "
               "\"RefTime\": 1796107812.487579, \"DR\": 3, \"Freq\": 868500000, \"upinfo\": "
               "{\"rctx\": 0, \"xtime\": 21110623522444888, \"gpstime\": 0, \"fts\": -1, "
               "\"rssi\": -80, \"snr\": 2, \"rxtime\": 1796107812.487502}}"),
        GS_BS_OK);
    assert_int_equal(msg.type, GS_BS_MSG_JREQ);
    assert_phy("00341200d07ed5b370efcdab89674523010500f9697009");
    assert_true(msg.u.up.join_eui == 0x70b3d57ed0001234ULL);
    assert_true(msg.u.up.dev_eui == 0x0123456789abcdefULL);
    assert_int_equal(msg.u.up.dev_nonce, 5);
    assert_int_equal(msg.u.up.dr, 3);

    /* router_config "JoinEUI" switches the station to JoinEUI/DevEUI (§3). */
    assert_int_equal(
        decode("{\"msgtype\":\"jreq\",\"MHdr\":0,\"JoinEUI\":\"70-B3-D5-7E-D0-00-12-34\","
               "\"DevEUI\":\"01-23-45-67-89-AB-CD-EF\",\"DevNonce\":5,\"MIC\":158362105," UPINFO
               "}"),
        GS_BS_OK);
    assert_phy("00341200d07ed5b370efcdab89674523010500f9697009");

    /* A 23-byte rejoin (§4 "up-rejoin23"), parsed like a jreq with MHDR 0xC0. */
    assert_int_equal(
        decode("{\"msgtype\":\"rejoin\",\"MHdr\":192,\"JoinEui\":\"70-B3-D5-7E-D0-00-12-34\","
               "\"DevEui\":\"01-23-45-67-89-AB-CD-EF\",\"DevNonce\":5,\"MIC\":158362105," UPINFO
               "}"),
        GS_BS_OK);
    assert_int_equal(msg.type, GS_BS_MSG_REJOIN);
    assert_phy("c0341200d07ed5b370efcdab89674523010500f9697009");

    assert_int_equal(
        decode("{\"msgtype\":\"jreq\",\"MHdr\":0,\"JoinEui\":\"70-B3-D5-7E-D0-00-12\","
               "\"DevEui\":\"01-23-45-67-89-AB-CD-EF\",\"DevNonce\":5,\"MIC\":1," UPINFO "}"),
        GS_BS_E_FIELD);
    assert_string_equal(msg.field, "JoinEui");
    assert_int_equal(
        decode("{\"msgtype\":\"jreq\",\"MHdr\":32,\"JoinEui\":\"70-B3-D5-7E-D0-00-12-34\","
               "\"DevEui\":\"01-23-45-67-89-AB-CD-EF\",\"DevNonce\":5,\"MIC\":1," UPINFO "}"),
        GS_BS_E_FIELD);
    assert_string_equal(msg.field, "MHdr");
    assert_int_equal(
        decode("{\"msgtype\":\"jreq\",\"MHdr\":0,\"JoinEui\":\"70-B3-D5-7E-D0-00-12-34\","
               "\"DevEui\":\"01-23-45-67-89-AB-CD-EF\",\"DevNonce\":65536,\"MIC\":1," UPINFO "}"),
        GS_BS_E_FIELD);
    assert_string_equal(msg.field, "DevNonce");
}

static void test_gs_bs_decode__propdf_dntxed_timesync_ignored(void **state)
{
    (void)state;
    assert_int_equal(decode("{\"msgtype\": \"propdf\", \"FRMPayload\": \"E0010203\", \"RefTime\": "
                            "1796107816.301152, \"DR\": 4, \"Freq\": 867300000, \"upinfo\": "
                            "{\"xtime\": 9}}"),
                     GS_BS_OK);
    assert_int_equal(msg.type, GS_BS_MSG_PROPDF);
    assert_phy("e0010203");
    assert_int_equal(decode("{\"msgtype\":\"propdf\",\"FRMPayload\":\"40010203\",\"DR\":4,"
                            "\"Freq\":867300000,\"upinfo\":{\"xtime\":9}}"),
                     GS_BS_E_FIELD);

    /* §6 */
    assert_int_equal(decode("{\"msgtype\": \"dntxed\", \"seqno\": 3, \"diid\": 3, \"DR\": 3, "
                            "\"Freq\": 868500000, \"DevEui\": \"01-23-45-67-89-AB-CD-EF\", "
                            "\"rctx\": 0, \"xtime\": 21110623527444888, \"txtime\": 690.256944, "
                            "\"gpstime\": 0}"),
                     GS_BS_OK);
    assert_int_equal(msg.type, GS_BS_MSG_DNTXED);
    assert_int_equal(msg.u.dntxed.diid, 3);
    assert_int_equal(msg.u.dntxed.seqno, 3);
    assert_true(msg.u.dntxed.has_dr);
    assert_int_equal(msg.u.dntxed.dr, 3);
    assert_int_equal(msg.u.dntxed.freq_hz, 868500000u);
    assert_true(msg.u.dntxed.dev_eui == 0x0123456789abcdefULL);
    assert_int_equal(msg.u.dntxed.xtime, 21110623527444888LL);
    assert_true(msg.u.dntxed.txtime_s == 690.256944);
    assert_int_equal(decode("{\"msgtype\":\"dntxed\",\"DR\":3}"), GS_BS_E_MISSING);
    assert_string_equal(msg.field, "diid");

    /* §7 */
    assert_int_equal(decode("{\"msgtype\": \"timesync\", \"txtime\": 803635260}"), GS_BS_OK);
    assert_int_equal(msg.type, GS_BS_MSG_TIMESYNC);
    assert_true(msg.u.timesync.txtime == 803635260.0);

    /* §4 dndf and §8 getxtime: known, not acted on. */
    assert_int_equal(decode("{\"msgtype\": \"dndf\", \"MHdr\": 96, \"DevAddr\": 16909060}"),
                     GS_BS_OK);
    assert_int_equal(msg.type, GS_BS_MSG_IGNORED);
    assert_string_equal(msg.msgtype, "dndf");
    assert_int_equal(decode("{\"msgtype\": \"getxtime\", \"MuxTime\": 1.5, \"ustime\": 1301.2, "
                            "\"xtimes\": [60235645284713826, 0, 0, 0]}"),
                     GS_BS_OK);
    assert_int_equal(msg.type, GS_BS_MSG_IGNORED);
}

static void test_gs_bs_decode__framing_errors(void **state)
{
    (void)state;
    assert_int_equal(decode(""), GS_BS_E_JSON);
    assert_int_equal(decode("[1,2]"), GS_BS_E_JSON);
    assert_int_equal(decode("{\"msgtype\":\"updf\""), GS_BS_E_JSON);
    assert_int_equal(decode("{\"msgtype\":\"version\"} {}"), GS_BS_E_JSON);
    assert_int_equal(decode("{\"msgtype\":\"version\"}\n"), GS_BS_OK);
    assert_int_equal(decode("{\"station\":\"x\"}"), GS_BS_E_MSGTYPE);
    assert_int_equal(decode("{\"msgtype\":\"foo_bar\"}"), GS_BS_E_MSGTYPE);
    assert_string_equal(msg.msgtype, "foo_bar");
    assert_int_equal(decode("{\"msgtype\":7}"), GS_BS_E_MSGTYPE);
    char big[GS_BS_JSON_MAX + 2];
    memset(big, ' ', sizeof big);
    big[0] = '{';
    big[GS_BS_JSON_MAX] = '}';
    assert_int_equal(gs_bs_decode(big, GS_BS_JSON_MAX + 1, &msg), GS_BS_E_JSON_LARGE);
    /* more tokens than we keep */
    char many[4 * GS_BS_TOKENS_MAX + 64];
    size_t n = (size_t)sprintf(many, "{\"msgtype\":\"version\",\"x\":[");
    for (int k = 0; k < GS_BS_TOKENS_MAX; k++)
        n += (size_t)sprintf(many + n, "%s1", k ? "," : "");
    n += (size_t)sprintf(many + n, "]}");
    assert_int_equal(gs_bs_decode(many, n, &msg), GS_BS_E_JSON_LARGE);
}

/* basic-station.md §1 id6 table, plus the other forms the station's rt_readEui reads. */
static void test_gs_bs_decode_router_info__eui_forms(void **state)
{
    (void)state;
    static const struct {
        const char *json;
        uint64_t eui;
    } ok[] = {
        {"{\"router\": \"::a01\"}", 0x0000000000000a01ULL},
        {"{\"router\":\"102:304:506:708\"}", 0x0102030405060708ULL},
        {"{\"router\":\"1122:3344:5566:7788\"}", 0x1122334455667788ULL},
        {"{\"router\":\"1::\"}", 0x0001000000000000ULL},
        {"{\"router\":\"aa:0:bb:0\"}", 0x00aa000000bb0000ULL},
        {"{\"router\":\"0:1::\"}", 0x0000000100000000ULL},
        {"{\"router\":\"8000::1\"}", 0x8000000000000001ULL},
        {"{\"router\":\"ffff:ffff:ffff:ffff\"}", 0xffffffffffffffffULL},
        {"{\"router\":\"b827:ebff:fe12:3456\"}", 0xb827ebfffe123456ULL},
        {"{\"router\":\"router-::b1\"}", 0xb1ULL},
        {"{\"router\":\"00-00-00-00-00-00-00-B1\"}", 0xb1ULL},
        {"{\"router\":\"00:00:00:00:00:00:00:b1\"}", 0xb1ULL},
        {"{\"router\":\"00000000000000B1\"}", 0xb1ULL},
        {"{\"router\":177}", 0xb1ULL},
        {"{\"router\":18446744073709551615}", 0xffffffffffffffffULL},
    };
    for (size_t k = 0; k < sizeof ok / sizeof ok[0]; k++) {
        uint64_t eui = 0;
        int rc = gs_bs_decode_router_info(ok[k].json, strlen(ok[k].json), &eui);
        if (rc != 0 || eui != ok[k].eui)
            fail_msg("%s: rc %d eui %016llx", ok[k].json, rc, (unsigned long long)eui);
    }
    static const char *const bad[] = {
        "{\"router\":\"::0\"}", /* zero */
        "{\"router\":0}",
        "{\"router\":\"\"}",
        "{\"router\":\"xyz\"}",
        "{\"router\":\"1::2::3\"}",
        "{\"router\":\"1:2:3:4:5\"}",
        "{\"router\":\"12345::1\"}",
        "{\"router\":\"00-00-00-00-00-00-0B1\"}",
        "{\"router\":\"00000000000000B1F\"}",
        "{\"router\":-1}",
        "{\"router\":true}",
        "{\"router\":\"::1\",\"router\":\"::2\"}",
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        uint64_t eui = 0;
        if (gs_bs_decode_router_info(bad[k], strlen(bad[k]), &eui) != GS_BS_E_FIELD)
            fail_msg("%s accepted", bad[k]);
    }
    uint64_t eui = 0;
    assert_int_equal(gs_bs_decode_router_info("{}", 2, &eui), GS_BS_E_MISSING);
    assert_int_equal(gs_bs_decode_router_info("\"::1\"", 5, &eui), GS_BS_E_JSON);
}

/* The station's own encodings (src/selftest_ujenc.c and the §1 table). */
static void test_gs_bs_id6_format__station_forms(void **state)
{
    (void)state;
    static const struct {
        uint64_t eui;
        const char *id6;
    } cases[] = {
        {0x0000000000000000ULL, "::0"},
        {0x0000000000000001ULL, "::1"},
        {0x0000000000020001ULL, "::2:1"},
        {0x0004000000000001ULL, "4::1"},
        {0x0004000300000000ULL, "4:3::"},
        {0x0004000000000000ULL, "4::"},
        {0x0000000300020000ULL, "0:3:2:0"},
        {0x0000000000000a01ULL, "::a01"},
        {0x00aa000000bb0000ULL, "aa:0:bb:0"},
        {0x0000000100000000ULL, "0:1::"},
        {0xb827ebfffe123456ULL, "b827:ebff:fe12:3456"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char out[24];
        size_t n = gs_bs_id6_format(cases[k].eui, out);
        assert_string_equal(out, cases[k].id6);
        assert_int_equal(n, strlen(cases[k].id6));
        uint64_t back = 0;
        if (cases[k].eui != 0) {
            assert_int_equal(gs_bs_eui_parse(out, n, &back), 0);
            assert_true(back == cases[k].eui);
        }
    }
}

static void test_gs_bs_encode_router_info__answer_and_error(void **state)
{
    (void)state;
    char buf[512];
    size_t n = 0;
    assert_int_equal(gs_bs_encode_router_info(0xa01,
                                              "ws://127.0.0.1:1887/traffic/eui-0000000000000a01",
                                              buf, sizeof buf, &n),
                     GS_BS_OK);
    assert_string_equal(buf, "{\"router\":\"::a01\",\"muxs\":\"muxs-::0\","
                             "\"uri\":\"ws://127.0.0.1:1887/traffic/eui-0000000000000a01\"}");
    assert_int_equal(n, strlen(buf));
    assert_int_equal(gs_bs_encode_router_info(1, "wss://[::1]:8887/traffic/x", buf, sizeof buf, &n),
                     GS_BS_OK);
    /* §1 ri-uri-no-port: the station refuses a URI without port or path. */
    static const char *const bad[] = {
        "ws://127.0.0.1/traffic/x",
        "ws://127.0.0.1:1887",
        "ws://127.0.0.1:1887/",
        "http://h:1/x",
        "wss://h:99999/x",
        "ws://:1887/x",
        "ws://[::1]/x",
        "ws://h:18a7/x",
        "ws://h\":1/x",
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++)
        if (gs_bs_encode_router_info(1, bad[k], buf, sizeof buf, &n) != GS_BS_E_ARG)
            fail_msg("%s accepted", bad[k]);
    assert_int_equal(gs_bs_encode_router_info(0xa01, "ws://h:1/x", buf, 20, &n), GS_BS_E_BUF);

    assert_int_equal(
        gs_bs_encode_router_info_error(0xb1, "gateway \"x\" not found", buf, sizeof buf, &n),
        GS_BS_OK);
    assert_string_equal(buf, "{\"router\":\"::b1\",\"error\":\"gateway \\\"x\\\" not found\"}");
    assert_int_equal(gs_bs_encode_router_info_error(0, "bad request", buf, sizeof buf, &n),
                     GS_BS_OK);
    assert_string_equal(buf, "{\"error\":\"bad request\"}");
}

static void test_gs_bs_encode_router_config__eu868(void **state)
{
    (void)state;
    char buf[GS_BS_ROUTER_CONFIG_MAX];
    size_t n = 0;
    gs_bs_router_config_t rc = {.plan = lorawan_freqplan_find("EU_863_870_TTN"),
                                .mux_time_s = 1796109403.3221147};
    assert_non_null(rc.plan);
    assert_int_equal(gs_bs_encode_router_config(&rc, buf, sizeof buf, &n), GS_BS_OK);
    assert_int_equal(n, strlen(buf));
    /* DRs, upchannels and radio centres as basic-station.md §3's working config and the
     * station's own allocation (RF0 867.5 MHz, RF1 868.45 MHz). */
    assert_string_equal(
        buf, "{\"msgtype\":\"router_config\",\"NetID\":null,\"JoinEui\":null,\"region\":\"EU868\","
             "\"hwspec\":\"sx1301/1\",\"freq_range\":[863000000,870000000],"
             "\"DRs\":[[12,125,0],[11,125,0],[10,125,0],[9,125,0],[8,125,0],[7,125,0],[7,250,0],"
             "[0,0,0],[-1,0,0],[-1,0,0],[-1,0,0],[-1,0,0],[-1,0,0],[-1,0,0],[-1,0,0],[-1,0,0]],"
             "\"upchannels\":[[868100000,0,5],[868300000,0,6],[868500000,0,5],[867100000,0,5],"
             "[867300000,0,5],[867500000,0,5],[867700000,0,5],[867900000,0,5],[868800000,7,7]],"
             "\"sx1301_conf\":[{\"radio_0\":{\"enable\":true,\"freq\":867500000},"
             "\"radio_1\":{\"enable\":true,\"freq\":868450000},"
             "\"chan_multiSF_0\":{\"enable\":true,\"radio\":1,\"if\":-350000},"
             "\"chan_multiSF_1\":{\"enable\":true,\"radio\":1,\"if\":-150000},"
             "\"chan_multiSF_2\":{\"enable\":true,\"radio\":1,\"if\":50000},"
             "\"chan_multiSF_3\":{\"enable\":true,\"radio\":0,\"if\":-400000},"
             "\"chan_multiSF_4\":{\"enable\":true,\"radio\":0,\"if\":-200000},"
             "\"chan_multiSF_5\":{\"enable\":true,\"radio\":0,\"if\":0},"
             "\"chan_multiSF_6\":{\"enable\":true,\"radio\":0,\"if\":200000},"
             "\"chan_multiSF_7\":{\"enable\":true,\"radio\":0,\"if\":400000},"
             "\"chan_Lora_std\":{\"enable\":true,\"radio\":1,\"if\":-150000,\"bandwidth\":250000,"
             "\"spread_factor\":7},"
             "\"chan_FSK\":{\"enable\":true,\"radio\":1,\"if\":350000,\"datarate\":50000}}],"
             "\"max_eirp\":29.15,\"nocca\":true,\"nodc\":true,\"nodwell\":true,"
             "\"MuxTime\":1796109403.322115,\"bcning\":null}");

    /* A production station: no dev/test settings; filters given. */
    static const uint64_t joineui[][2] = {{1, 2}, {0x70b3d57ed0000000ULL, 0x70b3d57ed0ffffffULL}};
    static const uint32_t netid[] = {0x13};
    rc.production = true;
    rc.join_eui = joineui;
    rc.n_join_eui = 2;
    rc.net_id = netid;
    rc.n_net_id = 1;
    assert_int_equal(gs_bs_encode_router_config(&rc, buf, sizeof buf, &n), GS_BS_OK);
    assert_non_null(strstr(buf, "\"NetID\":[19],\"JoinEui\":[[1,2],[8121069293711392768,"
                                "8121069293728169983]],"));
    assert_null(strstr(buf, "nocca"));
    assert_null(strstr(buf, "nodc"));
    assert_int_equal(gs_bs_encode_router_config(&rc, buf, 100, &n), GS_BS_E_BUF);
}

static void test_gs_bs_encode_router_config__us915_au915_as923(void **state)
{
    (void)state;
    char buf[GS_BS_ROUTER_CONFIG_MAX];
    size_t n = 0;
    gs_bs_router_config_t rc = {.plan = lorawan_freqplan_find("US_902_928_FSB_2"), .mux_time_s = 1};
    assert_non_null(rc.plan);
    assert_int_equal(gs_bs_encode_router_config(&rc, buf, sizeof buf, &n), GS_BS_OK);
    /* RP002: DR0..3 SF10..7/125, DR4 SF8/500, DR5/6 LR-FHSS (no SX1301 modem), DR7 RFU,
     * DR8..13 SF12..7/500 downlink only. FSB 2: 903.9..905.3 MHz and 904.6 MHz SF8/500. */
    assert_non_null(strstr(
        buf, "\"region\":\"US915\",\"hwspec\":\"sx1301/1\",\"freq_range\":[902000000,928000000],"
             "\"DRs\":[[10,125,0],[9,125,0],[8,125,0],[7,125,0],[8,500,0],[-1,0,0],[-1,0,0],"
             "[-1,0,0],[12,500,1],[11,500,1],[10,500,1],[9,500,1],[8,500,1],[7,500,1],[-1,0,0],"
             "[-1,0,0]],\"upchannels\":[[903900000,0,3],[904100000,0,3],[904300000,0,3],"
             "[904500000,0,3],[904700000,0,3],[904900000,0,3],[905100000,0,3],[905300000,0,3],"
             "[904600000,4,4]],\"sx1301_conf\":[{\"radio_0\":{\"enable\":true,\"freq\":904100000},"
             "\"radio_1\":{\"enable\":true,\"freq\":904900000},"
             "\"chan_multiSF_0\":{\"enable\":true,\"radio\":0,\"if\":-200000},"));
    assert_non_null(strstr(buf, "\"chan_multiSF_7\":{\"enable\":true,\"radio\":1,\"if\":400000},"
                                "\"chan_Lora_std\":{\"enable\":true,\"radio\":1,\"if\":-300000,"
                                "\"bandwidth\":500000,\"spread_factor\":8},"
                                "\"chan_FSK\":{\"enable\":false}}],\"max_eirp\":30.00,"));

    rc.plan = lorawan_freqplan_find("AU_915_928_FSB_2");
    assert_non_null(rc.plan);
    assert_int_equal(gs_bs_encode_router_config(&rc, buf, sizeof buf, &n), GS_BS_OK);
    assert_non_null(strstr(buf, "\"region\":\"AU915\""));
    assert_non_null(strstr(buf, "\"upchannels\":[[916800000,0,5],"));
    assert_non_null(strstr(buf, "[917500000,6,6]],"));

    rc.plan = lorawan_freqplan_find("AS_923_2");
    assert_non_null(rc.plan);
    assert_int_equal(gs_bs_encode_router_config(&rc, buf, sizeof buf, &n), GS_BS_OK);
    assert_non_null(strstr(buf, "\"region\":\"AS923-1\""));
    assert_non_null(strstr(buf, "\"upchannels\":[[921400000,0,5],[921600000,0,5]],"));
    assert_non_null(strstr(buf, "\"radio_0\":{\"enable\":true,\"freq\":921400000},"
                                "\"radio_1\":{\"enable\":true,\"freq\":921600000}"));
    rc.plan = lorawan_freqplan_find("AS_923_925");
    assert_non_null(rc.plan);
    assert_int_equal(gs_bs_encode_router_config(&rc, buf, sizeof buf, &n), GS_BS_OK);
    assert_non_null(strstr(buf, "\"region\":\"AS923-1\""));

    rc.plan = NULL;
    assert_int_equal(gs_bs_encode_router_config(&rc, buf, sizeof buf, &n), GS_BS_E_ARG);
}

/* Every plan lwstack knows either builds a router_config whose radios hold its channels, or is
 * refused as not fitting one SX1301. */
static void test_gs_bs_encode_router_config__every_plan(void **state)
{
    (void)state;
    char buf[GS_BS_ROUTER_CONFIG_MAX];
    size_t n = 0, built = 0;
    for (size_t k = 0; k < lorawan_freqplan_count(); k++) {
        gs_bs_router_config_t rc = {.plan = lorawan_freqplan_at(k), .mux_time_s = 1};
        int r = gs_bs_encode_router_config(&rc, buf, sizeof buf, &n);
        if (r != GS_BS_OK && r != GS_BS_E_PLAN)
            fail_msg("%s: %s", rc.plan->id, gs_bs_strerror(r));
        built += r == GS_BS_OK;
    }
    assert_true(built >= 20);
}

static const uint8_t PDU[] = {0x60, 0x04, 0x03, 0x02, 0x01, 0x00,
                              0x01, 0x00, 0xde, 0xad, 0xbe, 0xef};

static gs_bs_dnmsg_t class_a(void)
{
    return (gs_bs_dnmsg_t){.dev_eui = 0x0123456789abcdefULL,
                           .dclass = 0,
                           .diid = 3,
                           .pdu = PDU,
                           .pdu_len = sizeof PDU,
                           .rx_delay_s = 5,
                           .has_rx1 = true,
                           .rx1_dr = 3,
                           .rx1_freq_hz = 868500000,
                           .has_rx2 = true,
                           .rx2_dr = 0,
                           .rx2_freq_hz = 869525000,
                           .xtime = 21110623522444888LL,
                           .rctx = 0,
                           .priority = 0,
                           .mux_time_s = 1796107812.4882734};
}

/* basic-station.md §5: the test LNS's dnmsg, which the station sent in RX1. */
static void test_gs_bs_encode_dnmsg__class_a_and_c(void **state)
{
    (void)state;
    gs_bs_limits_t lim;
    assert_int_equal(gs_bs_limits(lorawan_freqplan_find("EU_863_870_TTN"), &lim), GS_BS_OK);
    assert_int_equal(lim.min_freq_hz, 863000000u);
    assert_int_equal(lim.max_freq_hz, 870000000u);
    char buf[GS_BS_DNMSG_MAX];
    size_t n = 0;
    const char *field = "x";
    gs_bs_dnmsg_t m = class_a();
    assert_int_equal(gs_bs_encode_dnmsg(&m, &lim, buf, sizeof buf, &n, &field), GS_BS_OK);
    assert_null(field);
    assert_string_equal(
        buf, "{\"msgtype\":\"dnmsg\",\"DevEui\":\"01-23-45-67-89-AB-CD-EF\",\"dC\":0,\"diid\":3,"
             "\"pdu\":\"6004030201000100deadbeef\",\"RxDelay\":5,\"RX1DR\":3,\"RX1Freq\":868500000,"
             "\"RX2DR\":0,\"RX2Freq\":869525000,\"priority\":0,\"xtime\":21110623522444888,"
             "\"rctx\":0,\"MuxTime\":1796107812.488273}");
    assert_int_equal(n, strlen(buf));

    /* RX2 only (the core found RX1 too late). */
    m.has_rx1 = false;
    m.priority = 25;
    assert_int_equal(gs_bs_encode_dnmsg(&m, &lim, buf, sizeof buf, &n, &field), GS_BS_OK);
    assert_non_null(
        strstr(buf, "\"RxDelay\":5,\"RX2DR\":0,\"RX2Freq\":869525000,\"priority\":25,"));

    /* §5 dn-classC: dC 2, no xtime, no RX1, RX2 given. */
    gs_bs_dnmsg_t c = {.dev_eui = 1,
                       .dclass = 2,
                       .diid = 9,
                       .pdu = PDU,
                       .pdu_len = 4,
                       .has_rx2 = true,
                       .rx2_dr = 0,
                       .rx2_freq_hz = 869525000,
                       .rctx = 1,
                       .mux_time_s = 2.5};
    assert_int_equal(gs_bs_encode_dnmsg(&c, &lim, buf, sizeof buf, &n, &field), GS_BS_OK);
    assert_string_equal(buf,
                        "{\"msgtype\":\"dnmsg\",\"DevEui\":\"00-00-00-00-00-00-00-01\","
                        "\"dC\":2,\"diid\":9,\"pdu\":\"60040302\",\"RxDelay\":1,\"RX2DR\":0,"
                        "\"RX2Freq\":869525000,\"priority\":0,\"rctx\":1,\"MuxTime\":2.500000}");
    assert_int_equal(gs_bs_encode_dnmsg(&c, &lim, buf, 50, &n, &field), GS_BS_E_BUF);
}

/* Everything the station drops silently (basic-station.md §5 table) is refused here. */
static void test_gs_bs_dnmsg_check__station_drop_cases(void **state)
{
    (void)state;
    gs_bs_limits_t lim, us;
    assert_int_equal(gs_bs_limits(lorawan_freqplan_find("EU_863_870_TTN"), &lim), GS_BS_OK);
    assert_int_equal(gs_bs_limits(lorawan_freqplan_find("US_902_928_FSB_2"), &us), GS_BS_OK);
    const char *field = NULL;
    gs_bs_dnmsg_t m;
#define REFUSED(mutation, name)                                                                    \
    do {                                                                                           \
        m = class_a();                                                                             \
        mutation;                                                                                  \
        field = NULL;                                                                              \
        assert_int_equal(gs_bs_dnmsg_check(&m, &lim, &field), GS_BS_E_ARG);                        \
        assert_string_equal(field, name);                                                          \
    } while (0)
    REFUSED(m.dev_eui = 0, "DevEui"); /* no dntxed would come back */
    REFUSED(m.dclass = 1, "dC");
    REFUSED(m.diid = -1, "diid");
    REFUSED(m.pdu_len = 0, "pdu");
    REFUSED(m.pdu = NULL, "pdu");
    REFUSED(m.pdu_len = 256, "pdu");
    REFUSED(m.xtime = 0, "xtime"); /* dn-no-xtime */
    REFUSED(m.rx_delay_s = 0, "RxDelay");
    REFUSED(m.rx_delay_s = 16, "RxDelay");
    REFUSED((m.has_rx1 = false, m.has_rx2 = false), "RX1DR");
    REFUSED(m.rx1_freq_hz = 915000000, "RX1Freq"); /* dn-bad-freq */
    REFUSED(m.rx1_dr = 9, "RX1DR");                /* dn-bad-dr */
    REFUSED(m.rx2_freq_hz = 862999999, "RX2Freq");
    REFUSED(m.rx2_dr = 16, "RX2DR");
    REFUSED((m.dclass = 2, m.xtime = 0), "RX1DR"); /* class C has no RX1 */
    REFUSED((m.dclass = 2, m.has_rx1 = false, m.has_rx2 = false), "RX2DR");
    REFUSED(m.rctx = -1, "rctx");
    /* US915: DR4 is uplink only; DR8..13 are the downlink rates. */
    m = class_a();
    m.rx1_freq_hz = 923300000;
    m.rx2_freq_hz = 923300000;
    m.rx2_dr = 8;
    m.rx1_dr = 4;
    assert_int_equal(gs_bs_dnmsg_check(&m, &us, &field), GS_BS_E_ARG);
    assert_string_equal(field, "RX1DR");
    m.rx1_dr = 10;
    assert_int_equal(gs_bs_dnmsg_check(&m, &us, &field), GS_BS_OK);
    assert_null(field);
}

static void test_gs_bs_encode_timesync__echo(void **state)
{
    (void)state;
    char buf[256];
    size_t n = 0;
    /* basic-station.md §7: MuxTime 1796107930.8630629 and gpstime of the same instant. */
    int64_t gps = gs_bs_gps_us_from_unix_ns(1796107930863063000LL);
    assert_int_equal(gps, 1480143148863063LL);
    assert_int_equal(gs_bs_encode_timesync(803635260, gps, 1796107930.8630629, buf, sizeof buf, &n),
                     GS_BS_OK);
    assert_string_equal(buf, "{\"msgtype\":\"timesync\",\"txtime\":803635260,"
                             "\"gpstime\":1480143148863063,\"MuxTime\":1796107930.863063}");
    assert_int_equal(n, strlen(buf));
    assert_int_equal(gs_bs_encode_timesync(1.5, 0, 0, buf, 10, &n), GS_BS_E_BUF);
}

static void test_gs_bs_strerror__names(void **state)
{
    (void)state;
    assert_string_equal(gs_bs_strerror(GS_BS_E_FIELD), "field");
    assert_string_equal(gs_bs_strerror(GS_BS_E_PLAN), "frequency_plan");
    assert_string_equal(gs_bs_strerror(-99), "unknown");
    assert_string_equal(gs_bs_msgtype_name(GS_BS_MSG_UPDF), "updf");
    assert_string_equal(gs_bs_region(lorawan_band_find("AS923-4")), "IL915");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gs_bs_decode__version_with_nulls),
        cmocka_unit_test(test_gs_bs_decode__updf_rebuilds_phypayload),
        cmocka_unit_test(test_gs_bs_decode__updf_confirmed_and_spellings),
        cmocka_unit_test(test_gs_bs_decode__updf_errors),
        cmocka_unit_test(test_gs_bs_decode__jreq_and_rejoin),
        cmocka_unit_test(test_gs_bs_decode__propdf_dntxed_timesync_ignored),
        cmocka_unit_test(test_gs_bs_decode__framing_errors),
        cmocka_unit_test(test_gs_bs_decode_router_info__eui_forms),
        cmocka_unit_test(test_gs_bs_id6_format__station_forms),
        cmocka_unit_test(test_gs_bs_encode_router_info__answer_and_error),
        cmocka_unit_test(test_gs_bs_encode_router_config__eu868),
        cmocka_unit_test(test_gs_bs_encode_router_config__us915_au915_as923),
        cmocka_unit_test(test_gs_bs_encode_router_config__every_plan),
        cmocka_unit_test(test_gs_bs_encode_dnmsg__class_a_and_c),
        cmocka_unit_test(test_gs_bs_dnmsg_check__station_drop_cases),
        cmocka_unit_test(test_gs_bs_encode_timesync__echo),
        cmocka_unit_test(test_gs_bs_strerror__names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
