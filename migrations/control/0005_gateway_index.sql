-- The deployment-wide gateway index (tenant/euis.h): what the Gateway Server needs to serve
-- a gateway, without reading the Identity Server's tenant tables. One row per live (not
-- deleted) gateway of every tenant, written by the Identity Server in the same statement as
-- the tenant's gateway row (create, update, delete, restore, purge, a location reported by
-- the gateway); gateway_euis (0002) stays the registry that keeps an EUI unique.
--
-- The settings are derived from the gateway's stored data (The Things Stack's Gateway JSON)
-- by lw_control.gateway_settings, the one definition every writer uses.
CREATE TABLE lw_control.gateways (
    tenant_id  text NOT NULL REFERENCES lw_control.tenants (tenant_id) ON DELETE CASCADE,
    gateway_id text NOT NULL,
    eui        text, -- 16 uppercase hex digits, as gateway_euis
    frequency_plan_ids               text[] NOT NULL DEFAULT '{}',
    schedule_downlink_late           boolean NOT NULL DEFAULT false,
    enforce_duty_cycle               boolean NOT NULL DEFAULT false,
    schedule_anytime_delay_ms        bigint NOT NULL DEFAULT 0,
    update_location_from_status      boolean NOT NULL DEFAULT false,
    location_public                  boolean NOT NULL DEFAULT false,
    status_public                    boolean NOT NULL DEFAULT false,
    require_authenticated_connection boolean NOT NULL DEFAULT false,
    -- The first antenna (The Things Stack's antennas[0]): gain in dBi and location, if any.
    antenna_gain      real,
    latitude          double precision,
    longitude         double precision,
    altitude          integer,
    accuracy          integer,
    location_source   text,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, gateway_id)
);
CREATE INDEX gateways_eui_idx ON lw_control.gateways (eui) WHERE eui IS NOT NULL;

-- A gateway's settings from its data. A duration is "<seconds>s" (the IS checks it); one
-- that PostgreSQL could not read as a number counts as 0. frequency_plan_ids wins over the
-- deprecated frequency_plan_id, as in The Things Stack.
CREATE FUNCTION lw_control.gateway_settings(d jsonb)
RETURNS TABLE (
    frequency_plan_ids text[],
    schedule_downlink_late boolean,
    enforce_duty_cycle boolean,
    schedule_anytime_delay_ms bigint,
    update_location_from_status boolean,
    location_public boolean,
    status_public boolean,
    require_authenticated_connection boolean,
    antenna_gain real,
    latitude double precision,
    longitude double precision,
    altitude integer,
    accuracy integer,
    location_source text
) LANGUAGE sql IMMUTABLE AS $$
    SELECT
        CASE
            WHEN jsonb_typeof(d -> 'frequency_plan_ids') = 'array'
                 AND jsonb_array_length(d -> 'frequency_plan_ids') > 0
                THEN ARRAY(SELECT jsonb_array_elements_text(d -> 'frequency_plan_ids'))
            WHEN coalesce(d ->> 'frequency_plan_id', '') <> ''
                THEN ARRAY[d ->> 'frequency_plan_id']
            ELSE '{}'::text[]
        END,
        coalesce(jsonb_typeof(d -> 'schedule_downlink_late') = 'boolean'
                 AND (d ->> 'schedule_downlink_late')::boolean, false),
        coalesce(jsonb_typeof(d -> 'enforce_duty_cycle') = 'boolean'
                 AND (d ->> 'enforce_duty_cycle')::boolean, false),
        CASE
            WHEN d ->> 'schedule_anytime_delay' ~ '^[0-9]{1,9}(\.[0-9]{1,9})?s$'
                THEN round(rtrim(d ->> 'schedule_anytime_delay', 's')::numeric * 1000)::bigint
            ELSE 0
        END,
        coalesce(jsonb_typeof(d -> 'update_location_from_status') = 'boolean'
                 AND (d ->> 'update_location_from_status')::boolean, false),
        coalesce(jsonb_typeof(d -> 'location_public') = 'boolean'
                 AND (d ->> 'location_public')::boolean, false),
        coalesce(jsonb_typeof(d -> 'status_public') = 'boolean'
                 AND (d ->> 'status_public')::boolean, false),
        coalesce(jsonb_typeof(d -> 'require_authenticated_connection') = 'boolean'
                 AND (d ->> 'require_authenticated_connection')::boolean, false),
        CASE WHEN jsonb_typeof(d #> '{antennas,0,gain}') = 'number'
            THEN (d #>> '{antennas,0,gain}')::real END,
        CASE WHEN jsonb_typeof(d #> '{antennas,0,location}') = 'object'
            THEN coalesce((d #>> '{antennas,0,location,latitude}')::double precision, 0) END,
        CASE WHEN jsonb_typeof(d #> '{antennas,0,location}') = 'object'
            THEN coalesce((d #>> '{antennas,0,location,longitude}')::double precision, 0) END,
        CASE WHEN jsonb_typeof(d #> '{antennas,0,location}') = 'object'
            THEN coalesce(round((d #>> '{antennas,0,location,altitude}')::numeric)::integer, 0)
        END,
        CASE WHEN jsonb_typeof(d #> '{antennas,0,location}') = 'object'
            THEN coalesce(round((d #>> '{antennas,0,location,accuracy}')::numeric)::integer, 0)
        END,
        CASE WHEN jsonb_typeof(d #> '{antennas,0,location}') = 'object'
            THEN coalesce(d #>> '{antennas,0,location,source}', 'SOURCE_UNKNOWN') END
$$;

-- The gateways registered before this file.
DO $$
DECLARE
    t record;
BEGIN
    FOR t IN SELECT tenant_id, 't_' || replace(tenant_id, '-', '_') AS schema_name
             FROM lw_control.tenants
    LOOP
        IF to_regclass(quote_ident(t.schema_name) || '.gateways') IS NOT NULL THEN
            EXECUTE format(
                'INSERT INTO lw_control.gateways SELECT %L, g.gateway_id, g.eui, s.*, now() '
                'FROM %I.gateways g, lw_control.gateway_settings(g.data) s '
                'WHERE g.deleted_at IS NULL', t.tenant_id, t.schema_name);
        END IF;
    END LOOP;
END
$$;
