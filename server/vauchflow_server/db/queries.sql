-- Every statement the API server runs, by name. Loaded by queries.py; run only by database.py.
-- Tenant tables are filtered by row-level security (app.tenant_id is set per transaction), and the
-- statements also name tenant_id where it lets an index be used.

-- name: set_tenant
SELECT set_config('app.tenant_id', $1::text, true);

-- name: set_operator
SELECT set_config('app.operator', 'on', true);

-- name: begin_as_tenant
-- One round trip opens the transaction and sets its tenant. A template, formatted only with the canonical text of
-- a uuid.UUID (hex digits and dashes), because a multi-statement string can't take bind parameters.
BEGIN; SELECT set_config('app.tenant_id', '{tenant_id}', true);

-- name: begin_as_operator
BEGIN; SELECT set_config('app.operator', 'on', true);

-- name: commit
COMMIT;

-- name: rollback
ROLLBACK;

-- name: authenticate_api_key
SELECT key_id, tenant_id, permissions, revoked FROM authenticate_api_key($1);

-- name: insert_tenant
INSERT INTO tenants (id, name, plan, creation_request_id, creation_request_hash)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (creation_request_id) DO NOTHING
RETURNING *;

-- name: get_tenant
SELECT * FROM tenants WHERE id = $1;

-- name: get_tenant_by_request_id
SELECT * FROM tenants WHERE creation_request_id = $1;

-- name: list_tenants
SELECT * FROM tenants
WHERE $1::timestamptz IS NULL OR (create_time, id) > ($1, $2::uuid)
ORDER BY create_time, id
LIMIT $3;

-- name: update_tenant
UPDATE tenants SET name = $2, plan = $3, update_time = now()
WHERE id = $1
RETURNING *;

-- name: insert_api_key
INSERT INTO api_keys (tenant_id, id, name, permissions, secret_hash, secret_prefix)
VALUES ($1, $2, $3, $4, $5, $6)
RETURNING *;

-- name: get_api_key
SELECT * FROM api_keys WHERE tenant_id = $1 AND id = $2;

-- name: first_api_key
SELECT * FROM api_keys WHERE tenant_id = $1 ORDER BY create_time, id LIMIT 1;

-- name: list_api_keys
SELECT * FROM api_keys
WHERE tenant_id = $1 AND ($2::timestamptz IS NULL OR (create_time, id) > ($2, $3::uuid))
ORDER BY create_time, id
LIMIT $4;

-- name: revoke_api_key
UPDATE api_keys SET revoke_time = coalesce(revoke_time, now())
WHERE tenant_id = $1 AND id = $2
RETURNING *;

-- name: notify_api_key_revoked
-- Delivered at COMMIT to every server's listener, which drops the key from its authentication cache.
SELECT pg_notify('vauchflow_api_key_revoked', $1::text);

-- name: claim_idempotency_key
-- A concurrent transaction with the same key blocks here until the first one commits or rolls back.
INSERT INTO idempotency_keys (tenant_id, operation, key, request_hash, response)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (tenant_id, operation, key) DO NOTHING
RETURNING key;

-- name: get_idempotency_key
SELECT request_hash, response FROM idempotency_keys WHERE tenant_id = $1 AND operation = $2 AND key = $3;

-- name: insert_voucher
INSERT INTO vouchers (tenant_id, id, code, percent_off, amount_off, currency, max_redemptions, per_customer_limit,
                      valid_from, valid_until, min_order_amount, metadata, status)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
RETURNING *;

-- name: get_voucher_by_code
SELECT * FROM vouchers WHERE tenant_id = $1 AND code = $2;

-- name: get_voucher_for_update
SELECT * FROM vouchers WHERE tenant_id = $1 AND code = $2 FOR UPDATE;

-- name: get_voucher_by_id
SELECT * FROM vouchers WHERE tenant_id = $1 AND id = $2;

-- name: list_vouchers
SELECT * FROM vouchers
WHERE tenant_id = $1 AND ($2::timestamptz IS NULL OR (create_time, id) > ($2, $3::uuid))
ORDER BY create_time, id
LIMIT $4;

-- name: update_voucher_terms
UPDATE vouchers
SET percent_off = $3, amount_off = $4, currency = $5, max_redemptions = $6, per_customer_limit = $7,
    valid_from = $8, valid_until = $9, min_order_amount = $10, metadata = $11, status = $12, update_time = now()
WHERE tenant_id = $1 AND code = $2
RETURNING *;

-- name: take_redemption
-- DESIGN.md invariant 1: one atomic conditional UPDATE with a row-count check. Concurrent redeemers queue on the
-- row lock and re-check the condition after it, so the count can never pass max_redemptions (the CHECK constraint
-- backs this up). The engine runs it last in its transaction, so the row lock is held only until COMMIT.
-- The order conditions mirror redemption_rules.order_denial.
UPDATE vouchers
SET redemption_count = redemption_count + 1, update_time = now()
WHERE tenant_id = $1 AND id = $2
  AND status = 'ACTIVE'
  AND (max_redemptions IS NULL OR redemption_count < max_redemptions)
  AND (valid_from IS NULL OR valid_from <= $3)
  AND (valid_until IS NULL OR $3 < valid_until)
  AND (min_order_amount IS NULL OR min_order_amount <= $4)
  AND (currency IS NULL OR currency = $5 OR ($5::text IS NULL AND amount_off IS NULL))
RETURNING *;

-- name: give_back_redemption
UPDATE vouchers
SET redemption_count = redemption_count - 1, update_time = now()
WHERE tenant_id = $1 AND id = $2 AND redemption_count > 0
RETURNING *;

-- name: take_customer_redemption
-- The per-customer limit, just as atomic: the upsert only increments below the limit.
INSERT INTO customer_redemption_counts AS c (tenant_id, voucher_id, customer_id, redemption_count)
VALUES ($1, $2, $3, 1)
ON CONFLICT (tenant_id, voucher_id, customer_id)
DO UPDATE SET redemption_count = c.redemption_count + 1 WHERE c.redemption_count < $4
RETURNING redemption_count;

-- name: give_back_customer_redemption
UPDATE customer_redemption_counts SET redemption_count = redemption_count - 1
WHERE tenant_id = $1 AND voucher_id = $2 AND customer_id = $3 AND redemption_count > 0;

-- name: customer_redemption_count
SELECT redemption_count FROM customer_redemption_counts
WHERE tenant_id = $1 AND voucher_id = $2 AND customer_id = $3;

-- name: insert_redemption
-- The redemption row and its redemption.succeeded outbox event together (invariant 4), in one statement.
WITH redemption AS (
    INSERT INTO redemptions (tenant_id, id, voucher_id, voucher_code, customer_id, order_id, order_amount, currency,
                             discount_amount, status, metadata)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'SUCCEEDED', $10)
    RETURNING *
), event AS (
    INSERT INTO outbox_events (tenant_id, event_id, type, payload)
    SELECT tenant_id, $11, $12, $13 FROM redemption
)
SELECT * FROM redemption;

-- name: get_redemption
SELECT * FROM redemptions WHERE tenant_id = $1 AND id = $2;

-- name: list_redemptions
SELECT * FROM redemptions
WHERE tenant_id = $1
  AND ($2::uuid IS NULL OR voucher_id = $2)
  AND ($3::timestamptz IS NULL OR (create_time, id) > ($3, $4::uuid))
ORDER BY create_time, id
LIMIT $5;

-- name: roll_back_redemption
-- Exactly once: only a SUCCEEDED redemption changes, and the row lock serialises concurrent rollbacks.
UPDATE redemptions SET status = 'ROLLED_BACK', rollback_time = now(), rollback_reason = $3
WHERE tenant_id = $1 AND id = $2 AND status = 'SUCCEEDED'
RETURNING *;

-- name: insert_event
INSERT INTO outbox_events (tenant_id, event_id, type, payload) VALUES ($1, $2, $3, $4);

-- name: role_can_bypass_rls
SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user;
