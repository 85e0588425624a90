-- Webhook endpoints, deliveries and their attempts; the relay's position in the outbox.
--
-- The webhook delivery service is a platform process that works across tenants. It connects as
-- vauchflow_delivery, which bypasses RLS but holds only the grants it needs; everything a tenant reads through
-- the API (including the event stream) still goes through vauchflow_app and row-level security.

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'vauchflow_delivery') THEN
        CREATE ROLE vauchflow_delivery LOGIN NOSUPERUSER BYPASSRLS NOCREATEDB NOCREATEROLE NOINHERIT;
    END IF;
END
$$;

CREATE TABLE webhook_endpoints (
    tenant_id uuid NOT NULL REFERENCES tenants (id),
    id uuid NOT NULL,
    url text NOT NULL CHECK (length(url) BETWEEN 1 AND 2048),
    description text NOT NULL DEFAULT '' CHECK (length(description) <= 500),
    event_types text[] NOT NULL DEFAULT '{}',
    enabled boolean NOT NULL DEFAULT true,
    disabled_reason text NOT NULL DEFAULT '' CHECK (disabled_reason IN ('', 'MANUAL', 'GONE', 'FAILING')),
    -- Signing secret: AES-256-GCM ciphertext only (DESIGN.md invariant 5). The AAD binds tenant, endpoint,
    -- purpose and key version, so a ciphertext moved to another row or purpose fails to decrypt.
    secret_ciphertext bytea NOT NULL,
    secret_nonce bytea NOT NULL CHECK (length(secret_nonce) = 12),
    secret_key_version integer NOT NULL,
    -- After a rotation the previous secret keeps signing until previous_secret_expire_time.
    previous_secret_ciphertext bytea,
    previous_secret_nonce bytea CHECK (length(previous_secret_nonce) = 12),
    previous_secret_key_version integer,
    previous_secret_expire_time timestamptz,
    -- Set at the first failure after a success; an endpoint failing for too long is disabled.
    failing_since timestamptz,
    create_time timestamptz NOT NULL DEFAULT now(),
    update_time timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE webhook_deliveries (
    tenant_id uuid NOT NULL REFERENCES tenants (id),
    id uuid NOT NULL,
    endpoint_id uuid NOT NULL,
    event_id uuid NOT NULL,
    event_type text NOT NULL,
    status text NOT NULL CHECK (status IN ('PENDING', 'DELIVERED', 'FAILED')),
    attempt_count integer NOT NULL DEFAULT 0,
    -- PENDING: when the next attempt is due. While an attempt is in flight this is its lease expiry, so a
    -- crashed worker's attempt is retried once the lease runs out.
    next_attempt_time timestamptz NOT NULL DEFAULT now(),
    create_time timestamptz NOT NULL DEFAULT now(),
    delivered_time timestamptz,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, endpoint_id) REFERENCES webhook_endpoints (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, event_id) REFERENCES outbox_events (tenant_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_time) WHERE status = 'PENDING';
CREATE INDEX webhook_deliveries_by_endpoint ON webhook_deliveries (tenant_id, endpoint_id, create_time, id);
-- One live delivery per event and endpoint; redeliveries re-open the finished one instead of adding rows.
CREATE UNIQUE INDEX webhook_deliveries_once ON webhook_deliveries (tenant_id, endpoint_id, event_id);

CREATE TABLE webhook_delivery_attempts (
    tenant_id uuid NOT NULL REFERENCES tenants (id),
    id bigint GENERATED ALWAYS AS IDENTITY,
    delivery_id uuid NOT NULL,
    attempt_number integer NOT NULL,
    attempt_time timestamptz NOT NULL DEFAULT now(),
    http_status integer,
    latency_ms integer NOT NULL,
    response_body text NOT NULL DEFAULT '' CHECK (length(response_body) <= 1024),
    error text NOT NULL DEFAULT '',
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, delivery_id) REFERENCES webhook_deliveries (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX webhook_delivery_attempts_by_delivery ON webhook_delivery_attempts (tenant_id, delivery_id, id);

-- The relay's position in the outbox, as (transaction_id, id). Only events of transactions older than every
-- running transaction (pg_snapshot_xmin) are relayed, so an event committed late by a long transaction that
-- holds a lower id is never skipped.
CREATE TABLE outbox_relay_position (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    transaction_id xid8 NOT NULL DEFAULT '0',
    event_id bigint NOT NULL DEFAULT 0
);
INSERT INTO outbox_relay_position DEFAULT VALUES;
CREATE INDEX outbox_events_by_position ON outbox_events (transaction_id, id);
CREATE INDEX outbox_events_by_tenant_position ON outbox_events (tenant_id, transaction_id, id);

-- Wake the relay and the event streams at commit instead of making them poll fast.
CREATE FUNCTION notify_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('vauchflow_outbox', '');
    RETURN NULL;
END
$$;
CREATE TRIGGER outbox_events_notify AFTER INSERT ON outbox_events
    FOR EACH STATEMENT EXECUTE FUNCTION notify_outbox();

ALTER TABLE outbox_relay_position ENABLE ROW LEVEL SECURITY;
ALTER TABLE outbox_relay_position FORCE ROW LEVEL SECURITY;
-- No tenant data here; only the delivery role (which bypasses RLS) may touch it.

DO $$
DECLARE
    tenant_table text;
BEGIN
    FOREACH tenant_table IN ARRAY ARRAY['webhook_endpoints', 'webhook_deliveries', 'webhook_delivery_attempts']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', tenant_table);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', tenant_table);
        EXECUTE format($policy$
            CREATE POLICY tenant_isolation ON %I
                USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
                WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
        $policy$, tenant_table);
    END LOOP;
END
$$;

GRANT SELECT, INSERT, UPDATE, DELETE ON webhook_endpoints TO vauchflow_app;
GRANT SELECT, INSERT, UPDATE ON webhook_deliveries TO vauchflow_app;
GRANT SELECT ON webhook_delivery_attempts TO vauchflow_app;

GRANT USAGE ON SCHEMA public TO vauchflow_delivery;
GRANT SELECT ON tenants, outbox_events TO vauchflow_delivery;
GRANT INSERT ON outbox_events TO vauchflow_delivery;
GRANT SELECT, UPDATE ON webhook_endpoints, outbox_relay_position TO vauchflow_delivery;
GRANT SELECT, INSERT, UPDATE ON webhook_deliveries TO vauchflow_delivery;
GRANT SELECT, INSERT ON webhook_delivery_attempts TO vauchflow_delivery;
