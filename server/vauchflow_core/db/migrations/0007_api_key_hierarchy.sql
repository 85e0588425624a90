-- Key management with a hierarchy and a record (issue 16, finding 5): each key remembers the key that minted it
-- (NULL for a tenant's first key, which the platform operator's CreateTenant makes), and every creation and
-- revocation is kept in an append-only audit log the tenant can list.
ALTER TABLE api_keys ADD COLUMN created_by_key_id uuid;
CREATE INDEX api_keys_active ON api_keys (tenant_id) WHERE revoke_time IS NULL;

CREATE TABLE api_key_audit_events (
    tenant_id uuid NOT NULL REFERENCES tenants (id),
    id bigint GENERATED ALWAYS AS IDENTITY,
    action text NOT NULL CHECK (action IN ('CREATED', 'REVOKED')),
    key_id uuid NOT NULL,
    key_name text NOT NULL,
    permissions text[] NOT NULL,
    -- The key that acted; NULL when the platform operator did (a tenant's first key).
    actor_key_id uuid,
    create_time timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);
ALTER TABLE api_key_audit_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE api_key_audit_events FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON api_key_audit_events
    USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
-- Append-only for the server's role: no UPDATE, no DELETE.
GRANT SELECT, INSERT ON api_key_audit_events TO vauchflow_app;
