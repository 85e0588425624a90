-- Statements both services run: authentication, tenant scoping, the outbox insert, wake-ups.

-- name: set_tenant
SELECT set_config('app.tenant_id', $1::text, true);

-- name: authenticate_api_key
SELECT key_id, tenant_id, permissions, revoked, plan, requests_per_second, burst, max_vouchers, max_webhook_endpoints
FROM authenticate_api_key($1);

-- name: insert_event
INSERT INTO outbox_events (tenant_id, event_id, type, payload) VALUES ($1, $2, $3, $4)
RETURNING event_id, type, payload, create_time, transaction_id::text::bigint AS transaction_position, id;

-- name: notify_deliveries
-- Wakes the delivery service's dispatchers when the transaction commits.
SELECT pg_notify('vauchflow_deliveries', '');

-- name: role_can_bypass_rls
SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user;
