-- The Join Server's part of each end device (components/js): root keys wrapped at rest
-- (RFC 3394 under js.key-encryption-key, hex), the DevNonce/JoinNonce state written in the
-- transaction of every JoinAns, and the AppSKeys it issued (wrapped too) for AppSKeyReq.
-- A device's JS part goes with the device (ON DELETE CASCADE from the Identity Server's
-- end_devices, in the delete's own transaction).
CREATE TABLE js_devices (
    application_id               text NOT NULL,
    device_id                    text NOT NULL,
    app_key                      text,
    nwk_key                      text,
    root_key_id                  text NOT NULL DEFAULT '',
    resets_join_nonces           boolean NOT NULL DEFAULT false,
    net_id                       text,
    application_server_id        text NOT NULL DEFAULT '',
    application_server_address   text NOT NULL DEFAULT '',
    application_server_kek_label text NOT NULL DEFAULT '',
    network_server_address       text NOT NULL DEFAULT '',
    network_server_kek_label     text NOT NULL DEFAULT '',
    provisioner_id               text NOT NULL DEFAULT '',
    provisioning_data            jsonb,
    last_dev_nonce               integer NOT NULL DEFAULT 0,
    used_dev_nonces              integer[] NOT NULL DEFAULT '{}',
    last_join_nonce              integer NOT NULL DEFAULT 0,
    last_rj_count_0              integer NOT NULL DEFAULT 0,
    last_rj_count_1              integer NOT NULL DEFAULT 0,
    created_at                   timestamptz NOT NULL DEFAULT now(),
    updated_at                   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (application_id, device_id),
    FOREIGN KEY (application_id, device_id) REFERENCES end_devices (application_id, device_id)
        ON DELETE CASCADE
);

CREATE TABLE js_session_keys (
    seq            bigserial PRIMARY KEY,
    application_id text NOT NULL,
    device_id      text NOT NULL,
    session_key_id text NOT NULL,
    app_s_key      text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (application_id, device_id) REFERENCES js_devices (application_id, device_id)
        ON DELETE CASCADE
);
CREATE UNIQUE INDEX js_session_keys_id_key ON js_session_keys (application_id, device_id, session_key_id);
