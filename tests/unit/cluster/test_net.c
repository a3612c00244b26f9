/* Unit tests of cluster/net.c: listen addresses and the bounded peer table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cluster/net_private.h"

static void test_lw_net_addr_parse__ipv4_and_ipv6(void **state)
{
    (void)state;
    struct sockaddr_storage ss;
    char buf[64];
    assert_int_equal(lw_net_addr_parse("127.0.0.1:1700", &ss, NULL), 0);
    assert_int_equal(ss.ss_family, AF_INET);
    assert_int_equal(lw_net_addr_port(&ss), 1700);
    lw_net_addr_format((struct sockaddr *)&ss, buf, sizeof buf);
    assert_string_equal(buf, "127.0.0.1:1700");
    assert_int_equal(lw_net_addr_parse("[::]:0", &ss, NULL), 0);
    assert_int_equal(ss.ss_family, AF_INET6);
    assert_int_equal(lw_net_addr_port(&ss), 0);
    assert_int_equal(lw_net_addr_parse("[::1]:1887", &ss, NULL), 0);
    lw_net_addr_format((struct sockaddr *)&ss, buf, sizeof buf);
    assert_string_equal(buf, "[::1]:1887");
}

static void test_lw_net_addr_parse__rejects(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",           "1700",   ":1700",   "1.2.3.4:",       "1.2.3.4",     "1.2.3.4:65536",
        "1.2.3.4:-1", "::1:80", "[::1:80", "example.com:80", "1.2.3.4x:80", "[]:80"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct sockaddr_storage ss;
        lw_err_t err;
        assert_int_equal(lw_net_addr_parse(bad[i], &ss, &err), -1);
        assert_string_equal(lw_err_name(&err), "invalid_argument");
        assert_string_equal(err.attrs[0].value, bad[i]);
    }
}

static struct sockaddr_in v4(const char *ip, int port)
{
    struct sockaddr_in a;
    uv_ip4_addr(ip, port, &a);
    return a;
}

static void test_lw_net_peers_get__by_port_or_by_ip(void **state)
{
    (void)state;
    struct sockaddr_in a1 = v4("10.0.0.1", 1), a2 = v4("10.0.0.1", 2);
    lw_net_peers_t *by_port = lw_net_peers_new(8, true, -1);
    lw_net_peers_t *by_ip = lw_net_peers_new(8, false, -1);
    assert_ptr_not_equal(lw_net_peers_get(by_port, (struct sockaddr *)&a1),
                         lw_net_peers_get(by_port, (struct sockaddr *)&a2));
    assert_ptr_equal(lw_net_peers_get(by_ip, (struct sockaddr *)&a1),
                     lw_net_peers_get(by_ip, (struct sockaddr *)&a2));
    assert_int_equal(lw_net_peers_count(by_port), 2);
    assert_int_equal(lw_net_peers_count(by_ip), 1);
    lw_net_peers_free(by_port);
    lw_net_peers_free(by_ip);
}

static void test_lw_net_peers_get__v4_mapped_is_v4(void **state)
{
    (void)state;
    lw_net_peers_t *p = lw_net_peers_new(4, true, -1);
    struct sockaddr_in a = v4("192.0.2.7", 1700);
    struct sockaddr_in6 m;
    uv_ip6_addr("::ffff:192.0.2.7", 1700, &m);
    lw_net_peer_t *e = lw_net_peers_get(p, (struct sockaddr *)&a);
    e->v[0] = 42;
    assert_ptr_equal(lw_net_peers_get(p, (struct sockaddr *)&m), e);
    assert_int_equal(e->addr.ss_family, AF_INET);
    lw_net_peers_free(p);
}

static void test_lw_net_peers_get__evicts_least_recent_unpinned(void **state)
{
    (void)state;
    lw_net_peers_t *p = lw_net_peers_new(3, false, 0);
    struct sockaddr_in a = v4("10.0.0.1", 0), b = v4("10.0.0.2", 0), c = v4("10.0.0.3", 0),
                       d = v4("10.0.0.4", 0), e = v4("10.0.0.5", 0);
    lw_net_peers_get(p, (struct sockaddr *)&a)->v[0] = 1; /* pinned, and the oldest */
    lw_net_peers_get(p, (struct sockaddr *)&b);
    lw_net_peers_get(p, (struct sockaddr *)&c);
    lw_net_peers_get(p, (struct sockaddr *)&b); /* b is now more recent than c */
    assert_non_null(lw_net_peers_get(p, (struct sockaddr *)&d));
    assert_int_equal(lw_net_peers_evicted(p), 1);
    assert_null(lw_net_peers_find(p, (struct sockaddr *)&c));
    assert_non_null(lw_net_peers_find(p, (struct sockaddr *)&a));
    assert_non_null(lw_net_peers_find(p, (struct sockaddr *)&b));
    assert_int_equal(lw_net_peers_count(p), 3);

    /* Everything pinned: no room, nothing evicted. */
    lw_net_peers_get(p, (struct sockaddr *)&b)->v[0] = 1;
    lw_net_peers_get(p, (struct sockaddr *)&d)->v[0] = 1;
    assert_null(lw_net_peers_get(p, (struct sockaddr *)&e));
    assert_int_equal(lw_net_peers_evicted(p), 1);
    lw_net_peers_free(p);
}

static void test_lw_net_peers_get__churn_stays_bounded(void **state)
{
    (void)state;
    /* Many more sources than entries: the table keeps the newest, counts the rest. */
    lw_net_peers_t *p = lw_net_peers_new(16, true, -1);
    for (int i = 0; i < 1000; i++) {
        struct sockaddr_in a = v4("10.1.0.1", 1000 + i);
        lw_net_peer_t *e = lw_net_peers_get(p, (struct sockaddr *)&a);
        assert_non_null(e);
        assert_int_equal(e->v[1], 0);
        e->v[1] = (uint64_t)i;
    }
    assert_int_equal(lw_net_peers_count(p), 16);
    assert_int_equal(lw_net_peers_evicted(p), 1000 - 16);
    for (int i = 0; i < 1000; i++) {
        struct sockaddr_in a = v4("10.1.0.1", 1000 + i);
        const lw_net_peer_t *e = lw_net_peers_find(p, (struct sockaddr *)&a);
        if (i < 1000 - 16) {
            assert_null(e);
        } else {
            assert_non_null(e);
            assert_int_equal(e->v[1], (uint64_t)i);
        }
    }
    lw_net_peers_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lw_net_addr_parse__ipv4_and_ipv6),
        cmocka_unit_test(test_lw_net_addr_parse__rejects),
        cmocka_unit_test(test_lw_net_peers_get__by_port_or_by_ip),
        cmocka_unit_test(test_lw_net_peers_get__v4_mapped_is_v4),
        cmocka_unit_test(test_lw_net_peers_get__evicts_least_recent_unpinned),
        cmocka_unit_test(test_lw_net_peers_get__churn_stays_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
