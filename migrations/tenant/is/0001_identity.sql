-- Identity Server registry of one tenant (components/is). Runs with search_path set to the
-- tenant's schema: names are unqualified.
--
-- Entity fields that are not identifiers live in `data` (JSONB, zero values omitted) so that
-- field masks map onto keys; identifiers, flags used for authorization and deletion state
-- are columns. Soft delete: deleted_at is set and the ID stays taken until the row is purged
-- (The Things Stack: user, organization, application and gateway IDs are retained; a
-- gateway's EUI is released at delete; end devices are deleted outright).

-- Users and organizations share one ID namespace (tts-features.md §16).
CREATE TABLE accounts (
    account_id   text PRIMARY KEY,
    account_type text NOT NULL CHECK (account_type IN ('user', 'organization')),
    created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
    user_id             text PRIMARY KEY REFERENCES accounts (account_id) ON DELETE CASCADE,
    admin               boolean NOT NULL DEFAULT false,
    state               integer NOT NULL DEFAULT 1,
    password_hash       text,
    password_updated_at timestamptz,
    data                jsonb NOT NULL DEFAULT '{}',
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    deleted_at          timestamptz
);

CREATE TABLE organizations (
    organization_id text PRIMARY KEY REFERENCES accounts (account_id) ON DELETE CASCADE,
    data            jsonb NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    deleted_at      timestamptz
);

CREATE TABLE applications (
    application_id text PRIMARY KEY,
    data           jsonb NOT NULL DEFAULT '{}',
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    deleted_at     timestamptz
);

CREATE TABLE gateways (
    gateway_id text PRIMARY KEY,
    eui        text, -- 16 uppercase hex digits
    data       jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz
);
CREATE UNIQUE INDEX gateways_eui_key ON gateways (eui) WHERE deleted_at IS NULL AND eui IS NOT NULL;

CREATE TABLE end_devices (
    application_id text NOT NULL REFERENCES applications (application_id) ON DELETE CASCADE,
    device_id      text NOT NULL,
    dev_eui        text,
    join_eui       text,
    data           jsonb NOT NULL DEFAULT '{}',
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (application_id, device_id)
);
CREATE UNIQUE INDEX end_devices_euis_key ON end_devices (join_eui, dev_eui)
    WHERE join_eui IS NOT NULL AND dev_eui IS NOT NULL;

-- Collaborators: a user or an organization (account) holds rights on an application, a
-- gateway or an organization (organization members). Rights are The Things Stack's names.
CREATE TABLE memberships (
    entity_type  text NOT NULL CHECK (entity_type IN ('application', 'gateway', 'organization')),
    entity_id    text NOT NULL,
    account_id   text NOT NULL REFERENCES accounts (account_id) ON DELETE CASCADE,
    account_type text NOT NULL CHECK (account_type IN ('user', 'organization')),
    rights       text[] NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (entity_type, entity_id, account_id)
);
CREATE INDEX memberships_account_idx ON memberships (account_id, entity_type);

-- API keys `NNSXS.<key_id>.<secret>`: only a salted PBKDF2 hash of the secret is stored.
CREATE TABLE api_keys (
    key_id      text PRIMARY KEY,
    entity_type text NOT NULL CHECK (entity_type IN ('application', 'gateway', 'organization', 'user')),
    entity_id   text NOT NULL,
    key_hash    text NOT NULL,
    name        text NOT NULL DEFAULT '',
    rights      text[] NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz
);
CREATE INDEX api_keys_entity_idx ON api_keys (entity_type, entity_id);

-- Short-lived access tokens `MFRWG.<token_id>.<secret>` issued by login.
CREATE TABLE access_tokens (
    token_id   text PRIMARY KEY,
    user_id    text NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    token_hash text NOT NULL,
    rights     text[] NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX access_tokens_user_idx ON access_tokens (user_id);
