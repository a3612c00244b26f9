-- Webhooks (issue 10, item 5): The Things Stack's ApplicationWebhookRegistry and the durable
-- delivery of lwstack (components/as/webhook*.c, components/as/WEBHOOKS.md).
--
-- as_webhooks: POST/PUT /api/v3/as/webhooks/{application_id}[/{webhook_id}]
--   webhook           TTS's ApplicationWebhook JSON without ids, times, health and the key:
--                     base_url, headers, format, paused, field_mask, template_ids,
--                     template_fields, uplink_message {path}, join_accept {path}, ...
--   downlink_api_key  the X-Downlink-Apikey value: a secret, kept out of `webhook` so that
--                     nothing renders or logs it by accident; shown only with
--                     RIGHT_APPLICATION_SETTINGS_BASIC
--   health            {"healthy": {}} or {"unhealthy": {"failed_attempts", ...}}, written by
--                     the deliverer (NULL: nothing sent yet)
CREATE TABLE as_webhooks (
    application_id   text NOT NULL REFERENCES applications (application_id) ON DELETE CASCADE,
    webhook_id       text NOT NULL,
    webhook          jsonb NOT NULL DEFAULT '{}',
    downlink_api_key text,
    health           jsonb,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (application_id, webhook_id)
);

-- as_webhook_outbox: what is not delivered yet, one row per message and webhook, in id order
-- per device. part is the lw.as.up partition of the device's key: the process that holds
-- the partition delivers the row. msg_id is the AsUp's envelope id (a message consumed again
-- after a crash finds its row and adds none). replayed: put back from the dead letters and
-- not yet taken by the partition's owner.
CREATE TABLE as_webhook_outbox (
    id             bigserial PRIMARY KEY,
    application_id text NOT NULL,
    webhook_id     text NOT NULL,
    device_id      text NOT NULL,
    part           integer NOT NULL,
    msg_id         bytea NOT NULL,
    up_type        smallint NOT NULL,
    body           text NOT NULL,
    received_at    timestamptz NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    attempts       integer NOT NULL DEFAULT 0,
    replayed       boolean NOT NULL DEFAULT false,
    UNIQUE (application_id, webhook_id, msg_id),
    FOREIGN KEY (application_id, webhook_id)
        REFERENCES as_webhooks (application_id, webhook_id) ON DELETE CASCADE
);
CREATE INDEX as_webhook_outbox_part ON as_webhook_outbox (part, id);

-- as_webhook_dead_letters: messages given up on (as.webhooks.dead-letter.attempts or .age),
-- listed and replayed by GET/POST .../dead-letters. created_at: when the message entered the
-- outbox; dead_at: when it was given up; last_error: the webhook's last failure (TTS's
-- ErrorDetails of the `request` error).
CREATE TABLE as_webhook_dead_letters (
    id             bigserial PRIMARY KEY,
    application_id text NOT NULL,
    webhook_id     text NOT NULL,
    device_id      text NOT NULL,
    part           integer NOT NULL,
    msg_id         bytea NOT NULL,
    up_type        smallint NOT NULL,
    body           text NOT NULL,
    received_at    timestamptz NOT NULL,
    created_at     timestamptz NOT NULL,
    dead_at        timestamptz NOT NULL DEFAULT now(),
    attempts       integer NOT NULL,
    last_error     jsonb,
    FOREIGN KEY (application_id, webhook_id)
        REFERENCES as_webhooks (application_id, webhook_id) ON DELETE CASCADE
);
CREATE INDEX as_webhook_dead_letters_hook ON as_webhook_dead_letters (application_id, webhook_id, id);
