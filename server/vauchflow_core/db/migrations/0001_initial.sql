-- Initial schema. Runs as the owner role (see migrate.py), inside one transaction.
--
-- Tenant isolation lives here, in the database: every table holding tenant data has ENABLE and FORCE row-level
-- security, with policies on the per-transaction setting app.tenant_id. The API server connects as
-- vauchflow_app, which owns nothing and cannot bypass RLS. With no tenant set, every policy sees no rows.

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'vauchflow_app') THEN
        CREATE ROLE vauchflow_app LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOINHERIT;
    END IF;
END
$$;

CREATE TABLE tenants (
    id uuid PRIMARY KEY,
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    plan text NOT NULL CHECK (plan IN ('FREE', 'STARTER', 'GROWTH', 'SCALE', 'ENTERPRISE')),
    create_time timestamptz NOT NULL DEFAULT now(),
    update_time timestamptz NOT NULL DEFAULT now(),
    -- Idempotency of CreateTenant: the operator's request_id and a hash of the request.
    creation_request_id text UNIQUE,
    creation_request_hash bytea,
    creation_response bytea
);

CREATE TABLE api_keys (
    tenant_id uuid NOT NULL REFERENCES tenants (id),
    id uuid NOT NULL,
    name text NOT NULL,
    permissions text[] NOT NULL,
    -- SHA-256 of the secret; the secret itself is never stored.
    secret_hash bytea NOT NULL UNIQUE,
    secret_prefix text NOT NULL,
    create_time timestamptz NOT NULL DEFAULT now(),
    revoke_time timestamptz,
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE vouchers (
    tenant_id uuid NOT NULL REFERENCES tenants (id),
    id uuid NOT NULL,
    code text NOT NULL,
    percent_off integer CHECK (percent_off BETWEEN 1 AND 100),
    amount_off bigint CHECK (amount_off > 0),
    currency char(3),
    max_redemptions bigint CHECK (max_redemptions > 0),
    per_customer_limit bigint CHECK (per_customer_limit > 0),
    valid_from timestamptz,
    valid_until timestamptz,
    min_order_amount bigint CHECK (min_order_amount >= 0),
    metadata jsonb NOT NULL DEFAULT '{}',
    status text NOT NULL CHECK (status IN ('ACTIVE', 'DISABLED')),
    redemption_count bigint NOT NULL DEFAULT 0 CHECK (redemption_count >= 0),
    create_time timestamptz NOT NULL DEFAULT now(),
    update_time timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, code),
    -- The last line of defence against over-redemption (DESIGN.md invariant 1).
    CONSTRAINT redemption_count_within_max CHECK (redemption_count <= max_redemptions),
    CONSTRAINT one_discount_kind CHECK (num_nonnulls(percent_off, amount_off) = 1),
    CONSTRAINT validity_window_ordered CHECK (valid_until > valid_from)
);

-- Per-customer usage, incremented with a conditional upsert so the limit holds under concurrency.
CREATE TABLE customer_redemption_counts (
    tenant_id uuid NOT NULL,
    voucher_id uuid NOT NULL,
    customer_id text NOT NULL,
    redemption_count bigint NOT NULL CHECK (redemption_count >= 0),
    PRIMARY KEY (tenant_id, voucher_id, customer_id),
    FOREIGN KEY (tenant_id, voucher_id) REFERENCES vouchers (tenant_id, id)
);

CREATE TABLE redemptions (
    tenant_id uuid NOT NULL,
    id uuid NOT NULL,
    voucher_id uuid NOT NULL,
    voucher_code text NOT NULL,
    customer_id text NOT NULL DEFAULT '',
    order_id text NOT NULL DEFAULT '',
    order_amount bigint NOT NULL CHECK (order_amount >= 0),
    currency char(3),
    discount_amount bigint NOT NULL CHECK (discount_amount >= 0),
    status text NOT NULL CHECK (status IN ('SUCCEEDED', 'ROLLED_BACK')),
    metadata jsonb NOT NULL DEFAULT '{}',
    create_time timestamptz NOT NULL DEFAULT now(),
    rollback_time timestamptz,
    rollback_reason text NOT NULL DEFAULT '',
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, voucher_id) REFERENCES vouchers (tenant_id, id)
);
CREATE INDEX redemptions_by_voucher ON redemptions (tenant_id, voucher_id, create_time, id);
CREATE INDEX redemptions_by_time ON redemptions (tenant_id, create_time, id);

-- Idempotency keys of tenant mutations: the first successful response is kept and replayed.
CREATE TABLE idempotency_keys (
    tenant_id uuid NOT NULL REFERENCES tenants (id),
    operation text NOT NULL,
    key text NOT NULL,
    request_hash bytea NOT NULL,
    response bytea NOT NULL,
    create_time timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, operation, key)
);

-- The transactional outbox: written in the same transaction as the change it reports (invariant 4).
-- transaction_id lets a relay avoid skipping events of transactions that commit out of id order.
CREATE TABLE outbox_events (
    tenant_id uuid NOT NULL REFERENCES tenants (id),
    id bigint GENERATED ALWAYS AS IDENTITY,
    event_id uuid NOT NULL,
    type text NOT NULL,
    payload jsonb NOT NULL,
    create_time timestamptz NOT NULL DEFAULT now(),
    transaction_id xid8 NOT NULL DEFAULT pg_current_xact_id(),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, event_id)
);
CREATE INDEX outbox_events_by_id ON outbox_events (id);

-- Row-level security. The expression is inlined (not a function call) so the planner can use indexes.
ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenants FORCE ROW LEVEL SECURITY;
-- The operator's tenancy calls see every tenant; app.operator is set per transaction by the operator path only.
CREATE POLICY tenant_isolation ON tenants
    USING (id = nullif(current_setting('app.tenant_id', true), '')::uuid
           OR current_setting('app.operator', true) = 'on')
    WITH CHECK (id = nullif(current_setting('app.tenant_id', true), '')::uuid
                OR current_setting('app.operator', true) = 'on');

DO $$
DECLARE
    tenant_table text;
BEGIN
    FOREACH tenant_table IN ARRAY ARRAY['api_keys', 'vouchers', 'customer_redemption_counts', 'redemptions',
                                        'idempotency_keys', 'outbox_events']
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

-- The one narrow path that reads across tenants: resolving an API key's hash to its tenant before the tenant is
-- known. SECURITY DEFINER runs as the owner (who bypasses RLS); it returns one key's identity, nothing else.
CREATE FUNCTION authenticate_api_key(p_secret_hash bytea)
    RETURNS TABLE (key_id uuid, tenant_id uuid, permissions text[], revoked boolean)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, public
AS $$
    SELECT k.id, k.tenant_id, k.permissions, k.revoke_time IS NOT NULL
    FROM public.api_keys AS k
    WHERE k.secret_hash = p_secret_hash
$$;
REVOKE ALL ON FUNCTION authenticate_api_key(bytea) FROM PUBLIC;

GRANT USAGE ON SCHEMA public TO vauchflow_app;
GRANT EXECUTE ON FUNCTION authenticate_api_key(bytea) TO vauchflow_app;
GRANT SELECT, INSERT, UPDATE ON tenants, api_keys, vouchers, redemptions TO vauchflow_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON customer_redemption_counts, idempotency_keys TO vauchflow_app;
GRANT SELECT, INSERT ON outbox_events TO vauchflow_app;
