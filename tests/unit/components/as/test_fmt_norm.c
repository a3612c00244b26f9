/* The normalized payload's rules as TTS's normalizedpayload.Parse (components/as/fmt_norm.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "as/fmt_private.h"

static char *run(const char *in, char *why, size_t why_len, char **warnings)
{
    json_t *m = json_loads(in, 0, NULL);
    assert_non_null(m);
    json_t *w = json_array();
    json_t *valid = NULL;
    int rc = fmt_norm_parse(m, &valid, w, why, why_len);
    json_decref(m);
    *warnings = json_dumps(w, JSON_COMPACT);
    json_decref(w);
    if (rc != 0)
        return NULL;
    char *s = json_dumps(valid, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(valid);
    return s;
}

static void test_fmt_norm_parse__valid_fields_kept_out_of_range_warned(void **state)
{
    (void)state;
    char why[160], *w;
    char *v = run("[{\"time\":\"2026-12-01T17:00:00.123Z\",\"air\":{\"temperature\":21.5,"
                  "\"pressure\":800,\"relativeHumidity\":101},\"wind\":{\"direction\":360}},"
                  "{\"soil\":{\"pH\":15}}]",
                  why, sizeof why, &w);
    assert_non_null(v);
    assert_string_equal(v,
                        "[{\"air\":{\"temperature\":21.5},\"time\":\"2026-12-01T17:00:00.123Z\"}]");
    assert_string_equal(w,
                        "[\"measurement 1: `air.pressure` should be equal or greater than `900`\","
                        "\"measurement 1: `air.relativeHumidity` should be equal or less than "
                        "`100`\",\"measurement 1: `wind.direction` should be less than `360`\","
                        "\"measurement 2: `soil.pH` should be equal or less than `14`\"]");
    free(v);
    free(w);
}

static void test_fmt_norm_parse__invalid_as_a_whole(void **state)
{
    (void)state;
    char why[160], *w;
    assert_null(run("[{\"air\":{\"temp\":1}}]", why, sizeof why, &w));
    assert_string_equal(why, "unknown field `air.temp`");
    free(w);
    assert_null(run("[{\"air\":5}]", why, sizeof why, &w));
    assert_string_equal(why, "invalid field type of `air`");
    free(w);
    assert_null(run("[{\"air\":{\"co2\":\"x\"}}]", why, sizeof why, &w));
    assert_string_equal(why, "invalid field type of `air.co2`");
    free(w);
    assert_null(run("[{\"time\":\"2026-12-01 17:00:00\"}]", why, sizeof why, &w));
    assert_string_equal(why, "invalid time of `time`");
    free(w);
    assert_null(run("[3]", why, sizeof why, &w));
    free(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fmt_norm_parse__valid_fields_kept_out_of_range_warned),
        cmocka_unit_test(test_fmt_norm_parse__invalid_as_a_whole),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
