-- The Storage Integration (issue 10, item 7): every ApplicationUp the Application Server
-- publishes on lw.as.up, kept per tenant until as.storage.retention has passed
-- (components/as/storage.c writes them in batches, storage_api.c serves
-- /api/v3/as/applications/{app}[/devices/{dev}]/packages/storage/{type}[/count]).
--
-- as_stored_up
--   uid          the AsUp's envelope id (the id of the lw.ns.up message it comes from): a
--                copy the bus redelivers after a crash is dropped by it (ON CONFLICT)
--   type         the ApplicationUp's message field: uplink_message, join_accept,
--                downlink_queued, ... (TTS's names)
--   received_at  the ApplicationUp's received_at (microseconds)
--   up           the ApplicationUp JSON exactly as published (json, not jsonb: the field
--                order of The Things Stack's JSON is kept byte for byte)
--   f_port       the uplink's FPort (TTS omits 0), for the f_port filter
-- No foreign key to the registry: stored messages outlive a deleted device until retention.
CREATE TABLE as_stored_up (
    uid            uuid NOT NULL PRIMARY KEY,
    application_id text NOT NULL,
    device_id      text NOT NULL,
    type           text NOT NULL,
    received_at    timestamptz NOT NULL,
    up             json NOT NULL,
    f_port         integer GENERATED ALWAYS AS (
        CASE WHEN type = 'uplink_message'
             THEN coalesce((up -> 'uplink_message' ->> 'f_port')::integer, 0) END) STORED
);

-- Newest-first (or oldest-first: the same index scanned backwards) per application and type,
-- and per device and type; the retention pass walks received_at.
CREATE INDEX as_stored_up_app_idx ON as_stored_up (application_id, type, received_at);
CREATE INDEX as_stored_up_dev_idx ON as_stored_up (application_id, device_id, type, received_at);
CREATE INDEX as_stored_up_time_idx ON as_stored_up (received_at);

-- Application package associations of the storage-integration package (TTS's
-- ApplicationPackageRegistry, the only package lwstack has): an application's default
-- association (device_id '') or one device's, on an FPort that TTS requires but the storage
-- integration ignores. With as.storage.enable = associations only their messages are kept.
CREATE TABLE as_package_associations (
    application_id text NOT NULL,
    device_id      text NOT NULL DEFAULT '',
    f_port         integer NOT NULL,
    package_name   text NOT NULL,
    data           jsonb NOT NULL DEFAULT '{}',
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (application_id, device_id, f_port)
);
