/* The simulator's run: its options and the state of one run, shared by simulate.c (the
 * command, the loop, gateways and devices) and provision.c (the API). Not for tests. */
#ifndef SIM_RUN_H
#define SIM_RUN_H

#include <stdio.h>

#include <uv.h>

#include "cluster/http_client.h"
#include "cluster/udp.h"
#include "sim_private.h"

typedef struct sim_opts {
    uint32_t n_gateways, n_devices, copies;
    double rate;                 /* device uplinks (and join-requests) per second, all devices */
    double duration_s;           /* sending time; 0: until every device sent uplinks_per_device */
    double max_duration_s;       /* with duration_s 0: the longest sending time */
    double drain_s;              /* listening after the last uplink; < 0: automatic */
    uint32_t uplinks_per_device; /* 0: no limit */
    const char *udp;             /* HOST:PORT of the Gateway Server */
    bool confirmed, json, class_c, link_check, device_time, adr, no_duty_cycle, configured;
    const char *keys_file;
    sim_fleet_opts_t fleet;
    const char *frequency_plan_id;
    int dr; /* -1: SF7 */
    uint8_t fport;
    uint8_t payload[SIM_MAX_PAYLOAD];
    size_t payload_len;
    bool has_payload;
    int rssi;
    double snr;
    double late_copy_ms;
    uint8_t rx1_delay_s;
    double keepalive_s, stat_interval_s, join_timeout_s;
    const char *events_path;
    const char *keys_out; /* the fleet as a keys file */
    /* provisioning */
    const char *api, *tenant, *api_key, *admin_key, *owner, *application_id;
    const char *ns_api, *js_api; /* where /ns/ and /js/ requests go; NULL: api */
    bool provision_json, provision_only;
    unsigned parts; /* SIM_PART_* */
} sim_opts_t;

/* One uplink as sent, for matching the downlinks that answer it. */
typedef struct sim_up_rec {
    uint32_t key; /* reception time, simulator µs mod 2^32 */
    uint32_t dev;
    uint64_t sent_us;
    uint8_t ch; /* index into radio.channels */
    uint8_t dr;
    bool join;
} sim_up_rec_t;

#define SIM_PUSH_MASK 1023u

typedef struct sim_gw {
    struct sim *s;
    uint32_t index;
    uint64_t eui;
    uint32_t tmst_offset; /* concentrator counter = simulator µs + offset */
    lw_udp_t *udp;
    uint16_t token;
    /* Sent time by token & SIM_PUSH_MASK, for PUSH_ACK round trips: room for the PUSH_DATA a
     * gateway has in flight (1024 at 2,000 a second is half a second of round trip). */
    uint64_t push_sent[SIM_PUSH_MASK + 1];
    uint16_t push_token[SIM_PUSH_MASK + 1];
    uint64_t rx_packets, tx_packets;
} sim_gw_t;

typedef struct sim_late {
    uint32_t gw;
    uint64_t due_us;
    uint16_t len;
    uint8_t data[SIM_UDP_MAX_DATAGRAM];
} sim_late_t;

typedef struct sim_counts {
    uint64_t uplinks, push_data, push_ack, pull_data, pull_ack, stats;
    uint64_t joins_sent, joins_accepted, join_failed, join_timeouts;
    uint64_t confirmed_sent, confirmed_acked;
    uint64_t downlinks, dl_win[5], dl_late, dl_unmatched, dl_failed, dl_radio_mismatch;
    uint64_t dl_class_c, dl_replayed;
    uint64_t tx_ack, malformed, send_failed, skipped_waiting;
} sim_counts_t;

typedef struct sim {
    sim_opts_t o;
    uv_loop_t *loop;
    sim_radio_t radio;
    sim_dev_t *devs;
    uint32_t *dev_ups; /* uplinks sent per device (data only) */
    uint64_t *join_sent_us;
    /* when the device hears its join-accept: the downlink's time on air (not sooner) */
    uint64_t *joined_us;
    sim_gw_t *gws;
    struct sockaddr_storage server;
    /* uplinks in flight: a ring of records and the table from their time to the record */
    sim_up_rec_t *recs;
    uint32_t rec_cap, rec_next;
    sim_match_t by_time;
    uint32_t *by_time_keys, *by_time_vals;
    sim_match_t by_addr; /* DevAddr → device + 1, for class C */
    uint32_t *by_addr_keys, *by_addr_vals;
    uint64_t last_key_us;
    /* late copies */
    sim_late_t *late;
    uint32_t late_cap, late_head, late_tail;
    /* time */
    uint64_t t0_ns, t0_wall_us;
    uint64_t start_us, stop_sending_us, send_end_us, end_us;
    uint64_t scheduled, keepalive_ticks;
    uint32_t next_dev;
    bool sending, stopping, all_done;
    uv_timer_t tick, keepalive;
    uv_signal_t sigint, sigterm;
    sim_counts_t c;
    sim_lat_t push_rtt, join_lat, dl_lead;
    FILE *events;
    lw_http_client_t *http;
    int exit_status;
} sim_t;

uint64_t sim_now_us(const sim_t *s);

/* Provisions the fleet through the API (opts api, tenant, key), or prints the requests as
 * JSON lines (provision_json). Runs the loop until done. Returns 0, or 1 when a request
 * failed (each failure printed on stderr with its status and error name). */
int sim_provision(sim_t *s);

#endif
