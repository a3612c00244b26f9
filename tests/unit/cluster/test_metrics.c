/* Unit tests of cluster/metrics.c: families, series, the text exposition format. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cluster/metrics.h"

static char *render(lw_metrics_t *m)
{
    char *out = NULL;
    long n = lw_metrics_render(m, &out);
    assert_true(n >= 0);
    assert_int_equal((size_t)n, strlen(out));
    return out;
}

static void test_lw_metrics_render__empty(void **state)
{
    (void)state;
    lw_metrics_t *m = lw_metrics_new();
    char *s = render(m);
    assert_string_equal(s, "");
    free(s);
    lw_metrics_free(m);
}

static void test_lw_metrics_counter__labels_in_order(void **state)
{
    (void)state;
    lw_metrics_t *m = lw_metrics_new();
    static const char *const labels[] = {"route", "method", "status", NULL};
    lw_metric_t *c = lw_metrics_counter(m, "lwstack_http_requests_total", "HTTP requests.", labels);
    assert_non_null(c);
    lw_metric_add(c, (const char *const[]){"/a/{id}", "GET", "200", NULL}, 1);
    lw_metric_add(c, (const char *const[]){"/b", "POST", "201", NULL}, 1);
    lw_metric_add(c, (const char *const[]){"/a/{id}", "GET", "200", NULL}, 2);
    char *s = render(m);
    assert_string_equal(s, "# HELP lwstack_http_requests_total HTTP requests.\n"
                           "# TYPE lwstack_http_requests_total counter\n"
                           "lwstack_http_requests_total{route=\"/a/{id}\",method=\"GET\","
                           "status=\"200\"} 3\n"
                           "lwstack_http_requests_total{route=\"/b\",method=\"POST\","
                           "status=\"201\"} 1\n");
    free(s);
    lw_metrics_free(m);
}

static void test_lw_metrics_gauge__set_and_no_labels(void **state)
{
    (void)state;
    lw_metrics_t *m = lw_metrics_new();
    lw_metric_t *g = lw_metrics_gauge(m, "lwstack_db_connections", "Open connections.", NULL);
    lw_metric_t *z = lw_metrics_counter(m, "lwstack_zero_total", "Never counted.", NULL);
    assert_non_null(z);
    lw_metric_set(g, NULL, 4);
    lw_metric_set(g, NULL, 2.5);
    char *s = render(m);
    assert_string_equal(s, "# HELP lwstack_db_connections Open connections.\n"
                           "# TYPE lwstack_db_connections gauge\n"
                           "lwstack_db_connections 2.5\n"
                           "# HELP lwstack_zero_total Never counted.\n"
                           "# TYPE lwstack_zero_total counter\n"
                           "lwstack_zero_total 0\n");
    free(s);
    lw_metrics_free(m);
}

static void test_lw_metrics_counter__declared_twice(void **state)
{
    (void)state;
    lw_metrics_t *m = lw_metrics_new();
    static const char *const labels[] = {"tenant", NULL};
    lw_metric_t *a = lw_metrics_counter(m, "x_total", "X.", labels);
    lw_metric_t *b = lw_metrics_counter(m, "x_total", "X again.", labels);
    assert_ptr_equal(a, b);
    assert_null(lw_metrics_gauge(m, "x_total", "X as a gauge.", labels));
    static const char *const too_many[] = {"a", "b", "c", "d", NULL};
    assert_null(lw_metrics_counter(m, "y_total", "Y.", too_many));
    lw_metric_add(NULL, NULL, 1); /* no-op */
    lw_metrics_free(m);
}

static void test_lw_metrics_render__escapes(void **state)
{
    (void)state;
    lw_metrics_t *m = lw_metrics_new();
    static const char *const labels[] = {"v", NULL};
    lw_metric_t *c = lw_metrics_counter(m, "e_total", "Back\\slash\nnewline \"q\".", labels);
    lw_metric_add(c, (const char *const[]){"a\"b\\c\nd", NULL}, 1);
    char *s = render(m);
    assert_string_equal(s, "# HELP e_total Back\\\\slash\\nnewline \"q\".\n"
                           "# TYPE e_total counter\n"
                           "e_total{v=\"a\\\"b\\\\c\\nd\"} 1\n");
    free(s);
    lw_metrics_free(m);
}

static void test_lw_metric_add__missing_values_read_empty(void **state)
{
    (void)state;
    lw_metrics_t *m = lw_metrics_new();
    static const char *const labels[] = {"a", "b", NULL};
    lw_metric_t *c = lw_metrics_counter(m, "m_total", "M.", labels);
    lw_metric_add(c, (const char *const[]){"1", NULL}, 1);
    lw_metric_add(c, NULL, 1);
    char *s = render(m);
    assert_string_equal(s, "# HELP m_total M.\n# TYPE m_total counter\n"
                           "m_total{a=\"1\",b=\"\"} 1\n"
                           "m_total{a=\"\",b=\"\"} 1\n");
    free(s);
    lw_metrics_free(m);
}

static void test_lw_metric_add__many_series(void **state)
{
    (void)state;
    lw_metrics_t *m = lw_metrics_new();
    static const char *const labels[] = {"id", NULL};
    lw_metric_t *c = lw_metrics_counter(m, "many_total", "Many.", labels);
    char id[16];
    for (int round = 0; round < 3; round++)
        for (int i = 0; i < 1000; i++) {
            snprintf(id, sizeof id, "%d", i);
            lw_metric_add(c, (const char *const[]){id, NULL}, 1);
        }
    char *s = render(m);
    assert_non_null(strstr(s, "\nmany_total{id=\"0\"} 3\n"));
    assert_non_null(strstr(s, "\nmany_total{id=\"999\"} 3\n"));
    int lines = 0;
    for (const char *p = s; *p; p++)
        lines += *p == '\n';
    assert_int_equal(lines, 1002);
    free(s);
    lw_metrics_free(m);
}

static void test_lw_metric_add__series_cap(void **state)
{
    (void)state;
    lw_metrics_t *m = lw_metrics_new();
    static const char *const labels[] = {"id", NULL};
    lw_metric_t *c = lw_metrics_counter(m, "cap_total", "Cap.", labels);
    char id[16];
    for (int i = 0; i < 10005; i++) {
        snprintf(id, sizeof id, "%d", i);
        lw_metric_add(c, (const char *const[]){id, NULL}, 1);
    }
    char *s = render(m);
    assert_null(strstr(s, "cap_total{id=\"10000\"}"));
    assert_non_null(strstr(s, "cap_total{id=\"9999\"} 1\n"));
    assert_non_null(strstr(s, "\nlwstack_metrics_series_dropped_total 5\n"));
    free(s);
    lw_metrics_free(m);
}

static void test_lw_metrics_render__special_values(void **state)
{
    (void)state;
    lw_metrics_t *m = lw_metrics_new();
    lw_metric_t *g = lw_metrics_gauge(m, "g", "G.", NULL);
    lw_metric_set(g, NULL, INFINITY);
    char *s = render(m);
    assert_non_null(strstr(s, "\ng +Inf\n"));
    free(s);
    lw_metric_set(g, NULL, 0.1);
    s = render(m);
    assert_non_null(strstr(s, "\ng 0.1\n"));
    free(s);
    lw_metric_set(g, NULL, 1e300);
    s = render(m);
    assert_non_null(strstr(s, "\ng 1e+300\n"));
    free(s);
    lw_metric_set(g, NULL, 0.1 + 0.2);
    s = render(m);
    assert_non_null(strstr(s, "\ng 0.30000000000000004\n"));
    free(s);
    lw_metric_set(g, NULL, -3);
    s = render(m);
    assert_non_null(strstr(s, "\ng -3\n"));
    free(s);
    lw_metrics_free(m);
}

static void test_lw_metric_observe__summary_sum_and_count(void **state)
{
    (void)state;
    lw_metrics_t *m = lw_metrics_new();
    static const char *const labels[] = {"route", NULL};
    lw_metric_t *d = lw_metrics_summary(m, "d_seconds", "Durations.", labels);
    lw_metric_t *e = lw_metrics_summary(m, "e_seconds", "Empty.", NULL);
    assert_non_null(e);
    lw_metric_observe(d, (const char *const[]){"/a", NULL}, 0.25);
    lw_metric_observe(d, (const char *const[]){"/a", NULL}, 0.5);
    lw_metric_observe(d, (const char *const[]){"/b", NULL}, 2);
    char *s = render(m);
    assert_string_equal(s, "# HELP d_seconds Durations.\n# TYPE d_seconds summary\n"
                           "d_seconds_sum{route=\"/a\"} 0.75\n"
                           "d_seconds_count{route=\"/a\"} 2\n"
                           "d_seconds_sum{route=\"/b\"} 2\n"
                           "d_seconds_count{route=\"/b\"} 1\n"
                           "# HELP e_seconds Empty.\n# TYPE e_seconds summary\n"
                           "e_seconds_sum 0\ne_seconds_count 0\n");
    free(s);
    lw_metrics_free(m);
}

static void test_lw_metric_series__increments_render_exactly(void **state)
{
    (void)state;
    lw_metrics_t *m = lw_metrics_new();
    static const char *const labels[] = {"topic", NULL};
    lw_metric_t *c = lw_metrics_counter(m, "bus_total", "Messages.", labels);
    lw_metric_series_t *a = lw_metric_series(c, (const char *const[]){"lw.a", NULL});
    lw_metric_series_t *b = lw_metric_series(c, (const char *const[]){"lw.b", NULL});
    assert_non_null(a);
    assert_non_null(b);
    for (int i = 0; i < 5; i++)
        lw_metric_series_add(a, 1);
    lw_metric_series_add(b, 2.5);
    lw_metric_add(c, (const char *const[]){"lw.a", NULL}, 10);
    char *s = render(m);
    assert_string_equal(s, "# HELP bus_total Messages.\n# TYPE bus_total counter\n"
                           "bus_total{topic=\"lw.a\"} 15\n"
                           "bus_total{topic=\"lw.b\"} 2.5\n");
    free(s);
    lw_metrics_free(m);
}

static void test_lw_metric_series__same_labels_same_series(void **state)
{
    (void)state;
    lw_metrics_t *m = lw_metrics_new();
    static const char *const labels[] = {"route", "status", NULL};
    lw_metric_t *c = lw_metrics_counter(m, "req_total", "Requests.", labels);
    char route[8] = "/x";
    lw_metric_series_t *a = lw_metric_series(c, (const char *const[]){route, "200", NULL});
    route[1] = 'y'; /* the handle copied the values */
    lw_metric_series_t *b = lw_metric_series(c, (const char *const[]){"/x", "200", NULL});
    assert_non_null(a);
    assert_ptr_equal(a, b);
    lw_metric_series_add(a, 1);
    lw_metric_series_add(b, 1);
    char *s = render(m);
    assert_string_equal(s, "# HELP req_total Requests.\n# TYPE req_total counter\n"
                           "req_total{route=\"/x\",status=\"200\"} 2\n");
    free(s);
    lw_metrics_free(m);
}

static void test_lw_metric_series__gauge_set_and_summary_observe(void **state)
{
    (void)state;
    lw_metrics_t *m = lw_metrics_new();
    lw_metric_t *g = lw_metrics_gauge(m, "up", "Up.", NULL);
    lw_metric_t *d = lw_metrics_summary(m, "d_seconds", "Durations.", NULL);
    lw_metric_series_t *gs = lw_metric_series(g, NULL);
    lw_metric_series_t *ds = lw_metric_series(d, NULL);
    lw_metric_series_set(gs, 3);
    lw_metric_series_set(gs, 1);
    lw_metric_series_observe(gs, 7); /* not a summary: ignored */
    lw_metric_series_observe(ds, 0.25);
    lw_metric_series_observe(ds, 0.5);
    char *s = render(m);
    assert_string_equal(s, "# HELP up Up.\n# TYPE up gauge\nup 1\n"
                           "# HELP d_seconds Durations.\n# TYPE d_seconds summary\n"
                           "d_seconds_sum 0.75\nd_seconds_count 2\n");
    free(s);
    lw_metrics_free(m);
}

static void test_lw_metric_series__null_family_is_a_no_op(void **state)
{
    (void)state;
    lw_metric_series_t *s = lw_metric_series(NULL, (const char *const[]){"x", NULL});
    assert_null(s);
    lw_metric_series_add(s, 1);
    lw_metric_series_set(s, 1);
    lw_metric_series_observe(s, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lw_metrics_render__empty),
        cmocka_unit_test(test_lw_metrics_counter__labels_in_order),
        cmocka_unit_test(test_lw_metrics_gauge__set_and_no_labels),
        cmocka_unit_test(test_lw_metrics_counter__declared_twice),
        cmocka_unit_test(test_lw_metrics_render__escapes),
        cmocka_unit_test(test_lw_metric_add__missing_values_read_empty),
        cmocka_unit_test(test_lw_metric_add__many_series),
        cmocka_unit_test(test_lw_metric_add__series_cap),
        cmocka_unit_test(test_lw_metrics_render__special_values),
        cmocka_unit_test(test_lw_metric_observe__summary_sum_and_count),
        cmocka_unit_test(test_lw_metric_series__increments_render_exactly),
        cmocka_unit_test(test_lw_metric_series__same_labels_same_series),
        cmocka_unit_test(test_lw_metric_series__gauge_set_and_summary_observe),
        cmocka_unit_test(test_lw_metric_series__null_family_is_a_no_op),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
