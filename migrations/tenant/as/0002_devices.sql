-- Numbered 0002: tenant files run by number, then component name, so an as/0001 would run
-- before is/0001 and its end_devices and applications tables (migrations/README.md).
-- The Application Server's part of each end device and each application (issue 10, item 1).
--
-- as_devices: what /api/v3/as/applications/{application_id}/devices/{device_id} sets
--   device     the device's AS fields as The Things Stack's JSON (ids with dev_eui/join_eui,
--              formatters, version_ids, skip_payload_crypto_override, attributes), never a key
--   session, pending_session
--              {"dev_addr", "keys": {"session_key_id", "app_s_key": {"kek_label",
--              "encrypted_key"}}, "last_a_f_cnt_down", "started_at"}: the AppSKey wrapped
--              with as.key-encryption-key (RFC 3394, base64), or in clear under "key" (base64)
--              when none is configured. Written by the API (ABP) and by the worker (joins).
--   last_a_f_cnt_down  the last (A)FCntDown a downlink was encrypted for, taken under a
--              row lock (SELECT ... FOR UPDATE) by every push/replace, whichever process.
--   gen        bumped by every write; the worker's cached copy says which it holds.
-- The row goes with the registry's (ON DELETE CASCADE from end_devices).
CREATE TABLE as_devices (
    application_id    text NOT NULL,
    device_id         text NOT NULL,
    device            jsonb NOT NULL DEFAULT '{}',
    session           jsonb,
    pending_session   jsonb,
    last_a_f_cnt_down bigint,
    gen               bigint NOT NULL DEFAULT 1,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (application_id, device_id),
    FOREIGN KEY (application_id, device_id)
        REFERENCES end_devices (application_id, device_id) ON DELETE CASCADE
);

-- as_links: /api/v3/as/applications/{application_id}/link (default_formatters, ...), as
-- The Things Stack's ApplicationLink JSON.
CREATE TABLE as_links (
    application_id text PRIMARY KEY REFERENCES applications (application_id) ON DELETE CASCADE,
    link           jsonb NOT NULL DEFAULT '{}',
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
