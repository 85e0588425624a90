-- Campaigns (issue 17): many codes under one set of terms, campaign-wide and per-customer limits across the
-- campaign's codes, and the long-running operations that generate codes in bulk.
--
-- A campaign's codes are rows of vouchers (one code namespace per tenant: UNIQUE (tenant_id, code) covers both)
-- carrying a copy of the campaign's terms, so a code redeems on the voucher path; campaign_id ties it to its
-- campaign, whose status and campaign-wide limits the redeem checks too.

CREATE TABLE campaigns (
    tenant_id uuid NOT NULL REFERENCES tenants (id),
    id uuid NOT NULL,
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    percent_off integer CHECK (percent_off BETWEEN 1 AND 100),
    amount_off bigint CHECK (amount_off > 0),
    currency char(3),
    valid_from timestamptz,
    valid_until timestamptz,
    min_order_amount bigint CHECK (min_order_amount >= 0),
    -- Each code's own limit (vouchers.max_redemptions of its codes).
    code_redemption_limit bigint NOT NULL DEFAULT 1 CHECK (code_redemption_limit > 0),
    -- Across all codes; NULL: unlimited. redemption_count is counted only when this is set (fixed at creation).
    max_redemptions bigint CHECK (max_redemptions > 0),
    -- Per customer across all codes; NULL: unlimited (campaign_customer_redemption_counts count it when set).
    per_customer_limit bigint CHECK (per_customer_limit > 0),
    metadata jsonb NOT NULL DEFAULT '{}',
    status text NOT NULL CHECK (status IN ('ACTIVE', 'PAUSED', 'ENDED')),
    redemption_count bigint NOT NULL DEFAULT 0 CHECK (redemption_count >= 0),
    create_time timestamptz NOT NULL DEFAULT now(),
    update_time timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    -- The last line of defence against over-redemption of a campaign (DESIGN.md invariant 1).
    CONSTRAINT campaign_redemption_count_within_max CHECK (redemption_count <= max_redemptions),
    CONSTRAINT campaign_one_discount_kind CHECK (num_nonnulls(percent_off, amount_off) = 1),
    CONSTRAINT campaign_validity_window_ordered CHECK (valid_until > valid_from)
);
CREATE INDEX campaigns_by_time ON campaigns (tenant_id, create_time, id);

ALTER TABLE vouchers ADD COLUMN campaign_id uuid;
ALTER TABLE vouchers ADD CONSTRAINT vouchers_campaign_fkey
    FOREIGN KEY (tenant_id, campaign_id) REFERENCES campaigns (tenant_id, id);
-- A campaign's codes in creation order (listing, counting, filtering by campaign).
CREATE INDEX vouchers_by_campaign ON vouchers (tenant_id, campaign_id, create_time, id) WHERE campaign_id IS NOT NULL;

-- A customer's redemptions across a campaign's codes, taken with a conditional upsert (like
-- customer_redemption_counts) so the campaign's per-customer limit holds under concurrency.
CREATE TABLE campaign_customer_redemption_counts (
    tenant_id uuid NOT NULL,
    campaign_id uuid NOT NULL,
    customer_id text NOT NULL,
    redemption_count bigint NOT NULL CHECK (redemption_count >= 0),
    PRIMARY KEY (tenant_id, campaign_id, customer_id),
    FOREIGN KEY (tenant_id, campaign_id) REFERENCES campaigns (tenant_id, id)
);

-- Long-running operations (google.longrunning.Operation, AIP-151), e.g. generating a campaign's codes. The state
-- lives here so any API server replica answers GetOperation; the server running it renews lease_expire_time, and a
-- RUNNING operation whose lease ran out (its server died) is marked FAILED by the next server that looks.
CREATE TABLE operations (
    tenant_id uuid NOT NULL REFERENCES tenants (id),
    id uuid NOT NULL,
    kind text NOT NULL CHECK (kind IN ('GENERATE_CAMPAIGN_CODES', 'IMPORT_CAMPAIGN_CODES')),
    campaign_id uuid NOT NULL,
    state text NOT NULL CHECK (state IN ('RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED')),
    -- The request as the worker needs it (count, pattern, charset, prefix, suffix).
    request jsonb NOT NULL,
    requested_count bigint NOT NULL CHECK (requested_count > 0),
    generated_count bigint NOT NULL DEFAULT 0 CHECK (generated_count >= 0),
    cancel_requested boolean NOT NULL DEFAULT false,
    -- A google.rpc.Code and a message safe to show, when FAILED (or CANCELLED).
    error_code integer,
    error_message text,
    error_reason text,
    lease_expire_time timestamptz,
    create_time timestamptz NOT NULL DEFAULT now(),
    update_time timestamptz NOT NULL DEFAULT now(),
    end_time timestamptz,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, campaign_id) REFERENCES campaigns (tenant_id, id)
);
CREATE INDEX operations_by_time ON operations (tenant_id, create_time, id);
CREATE INDEX operations_running ON operations (lease_expire_time) WHERE state = 'RUNNING';

DO $$
DECLARE
    tenant_table text;
BEGIN
    FOREACH tenant_table IN ARRAY ARRAY['campaigns', 'campaign_customer_redemption_counts', 'operations']
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

GRANT SELECT, INSERT, UPDATE ON campaigns, operations TO vauchflow_app;
GRANT DELETE ON operations TO vauchflow_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON campaign_customer_redemption_counts TO vauchflow_app;
