-- The Network Server's part of each end device (issue 9, items 6, 7 and 10): what
-- /api/v3/ns/applications/{application_id}/devices/{device_id} sets, and what the device
-- worker keeps. The registry row (is/0001's end_devices) comes first: the NS part goes with
-- it (ON DELETE CASCADE), and a device the registry does not know has no NS part.
--
-- settings  NsSettings (components/ns/ns.proto): written by the API only.
-- state     NsState: session, pending session, MAC state, downlink queue, recent uplink ids;
--           written by the device worker behind the hot path (one transaction per batch),
--           and by the API when it sets the session or the MAC state. Session keys inside
--           are wrapped with the KEK of ns.key-encryption-key (kek_label says which).
-- gen       bumped by every API write. The worker writes only rows whose gen is the one it
--           loaded; the API publishes a RELOAD on lw.ns.dev after its commit, and the
--           worker then takes the new settings (and the new state when state_gen says the
--           API wrote it).
-- dev_addr, pending_dev_addr: of the active and the pending session (lowercase hex), for the
--           matcher's DevAddr index loaded at start and for DevAddr assignment.
CREATE TABLE ns_devices (
    application_id   text NOT NULL,
    device_id        text NOT NULL,
    settings         bytea NOT NULL,
    state            bytea NOT NULL,
    gen              bigint NOT NULL DEFAULT 1,
    state_gen        bigint NOT NULL DEFAULT 1,
    dev_addr         text,
    pending_dev_addr text,
    last_seen_at     timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (application_id, device_id),
    FOREIGN KEY (application_id, device_id)
        REFERENCES end_devices (application_id, device_id) ON DELETE CASCADE
);
CREATE INDEX ns_devices_dev_addr_idx ON ns_devices (dev_addr) WHERE dev_addr IS NOT NULL;
CREATE INDEX ns_devices_pending_dev_addr_idx ON ns_devices (pending_dev_addr)
    WHERE pending_dev_addr IS NOT NULL;
