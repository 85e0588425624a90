-- Campaigns, their codes' campaign-wide counters, and long-running operations (migration 0009).

-- name: insert_campaign
INSERT INTO campaigns (tenant_id, id, name, percent_off, amount_off, currency, valid_from, valid_until,
                       min_order_amount, code_redemption_limit, max_redemptions, per_customer_limit, metadata, status)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
RETURNING *, 0::bigint AS code_count, 0::bigint AS code_redemptions;

-- name: get_campaign
-- With its counts: codes, and redemptions of them not rolled back (summed over the codes, through
-- vouchers_by_campaign).
SELECT c.*, n.code_count, n.code_redemptions
FROM campaigns AS c,
     LATERAL (SELECT count(*) AS code_count, coalesce(sum(v.redemption_count), 0)::bigint AS code_redemptions
              FROM vouchers AS v WHERE v.tenant_id = c.tenant_id AND v.campaign_id = c.id) AS n
WHERE c.tenant_id = $1 AND c.id = $2;

-- name: get_campaign_for_update
SELECT *, 0::bigint AS code_count, 0::bigint AS code_redemptions FROM campaigns
WHERE tenant_id = $1 AND id = $2 FOR UPDATE;

-- name: list_campaigns
SELECT c.*, n.code_count, n.code_redemptions
FROM campaigns AS c,
     LATERAL (SELECT count(*) AS code_count, coalesce(sum(v.redemption_count), 0)::bigint AS code_redemptions
              FROM vouchers AS v WHERE v.tenant_id = c.tenant_id AND v.campaign_id = c.id) AS n
WHERE c.tenant_id = $1 AND ($2::timestamptz IS NULL OR (c.create_time, c.id) > ($2, $3::uuid))
ORDER BY c.create_time, c.id
LIMIT $4;

-- name: update_campaign
UPDATE campaigns
SET name = $3, valid_from = $4, valid_until = $5, max_redemptions = $6, per_customer_limit = $7, metadata = $8,
    status = $9, update_time = now()
WHERE tenant_id = $1 AND id = $2
RETURNING *, 0::bigint AS code_count, 0::bigint AS code_redemptions;

-- name: update_campaign_code_windows
-- The codes carry a copy of the campaign's validity window (the redeem's guard checks it on the code's row).
UPDATE vouchers SET valid_from = $3, valid_until = $4, update_time = now()
WHERE tenant_id = $1 AND campaign_id = $2
  AND (valid_from IS DISTINCT FROM $3 OR valid_until IS DISTINCT FROM $4);

-- name: take_campaign_redemption
-- The campaign-wide limit (DESIGN.md invariant 1): a conditional UPDATE with a row-count check, backed by
-- CHECK (redemption_count <= max_redemptions). No row: the engine reads the campaign and names the reason.
UPDATE campaigns SET redemption_count = redemption_count + 1
WHERE tenant_id = $1 AND id = $2 AND status = 'ACTIVE' AND redemption_count < max_redemptions
RETURNING redemption_count;

-- name: give_back_campaign_redemption
UPDATE campaigns SET redemption_count = redemption_count - 1
WHERE tenant_id = $1 AND id = $2 AND max_redemptions IS NOT NULL AND redemption_count > 0;

-- name: take_campaign_customer_redemption
-- The per-customer limit across a campaign's codes, as atomic as the voucher's own (take_customer_redemption).
INSERT INTO campaign_customer_redemption_counts AS c (tenant_id, campaign_id, customer_id, redemption_count)
VALUES ($1, $2, $3, 1)
ON CONFLICT (tenant_id, campaign_id, customer_id)
DO UPDATE SET redemption_count = c.redemption_count + 1 WHERE c.redemption_count < $4
RETURNING redemption_count;

-- name: give_back_campaign_customer_redemption
UPDATE campaign_customer_redemption_counts SET redemption_count = redemption_count - 1
WHERE tenant_id = $1 AND campaign_id = $2 AND customer_id = $3 AND redemption_count > 0;

-- name: campaign_customer_redemption_count
SELECT redemption_count FROM campaign_customer_redemption_counts
WHERE tenant_id = $1 AND campaign_id = $2 AND customer_id = $3;

-- name: create_code_staging
-- PostgreSQL refuses COPY FROM into a table with row-level security: generated codes are copied into this
-- temporary table first (the session's own, gone at COMMIT), then inserted from it.
CREATE TEMPORARY TABLE code_staging (code text NOT NULL) ON COMMIT DROP;

-- name: insert_staged_codes
-- Codes taken by any voucher of the tenant (one namespace) are skipped; the caller counts what went in.
INSERT INTO vouchers (tenant_id, id, code, percent_off, amount_off, currency, max_redemptions, valid_from,
                      valid_until, min_order_amount, status, campaign_id)
SELECT $1, uuidv7(), s.code, c.percent_off, c.amount_off, c.currency, c.code_redemption_limit, c.valid_from,
       c.valid_until, c.min_order_amount, 'ACTIVE', c.id
FROM code_staging AS s, campaigns AS c
WHERE c.tenant_id = $1 AND c.id = $2
ON CONFLICT (tenant_id, code) DO NOTHING;

-- name: insert_operation
INSERT INTO operations (tenant_id, id, kind, campaign_id, state, request, requested_count, lease_expire_time)
VALUES ($1, $2, $3, $4, 'RUNNING', $5, $6, now() + make_interval(secs => $7))
RETURNING *;

-- name: get_operation
SELECT * FROM operations WHERE tenant_id = $1 AND id = $2;

-- name: list_operations
SELECT * FROM operations
WHERE tenant_id = $1 AND ($2::timestamptz IS NULL OR (create_time, id) > ($2, $3::uuid))
ORDER BY create_time, id
LIMIT $4;

-- name: fail_abandoned_operations
-- Operations whose server stopped renewing their lease (it died) end as FAILED; what they generated stays.
UPDATE operations
SET state = 'FAILED', error_code = 10, error_reason = 'OPERATION_ABANDONED',
    error_message = 'the server running the operation stopped; the codes generated so far are kept',
    end_time = now(), update_time = now()
WHERE tenant_id = $1 AND state = 'RUNNING' AND lease_expire_time < now();

-- name: request_operation_cancel
UPDATE operations SET cancel_requested = true, update_time = now()
WHERE tenant_id = $1 AND id = $2 AND state = 'RUNNING'
RETURNING *;

-- name: delete_operation
DELETE FROM operations WHERE tenant_id = $1 AND id = $2 AND state <> 'RUNNING' RETURNING id;

-- name: record_operation_progress
-- After each chunk: the progress, a renewed lease, and whether the caller asked to cancel.
UPDATE operations
SET generated_count = generated_count + $3, update_time = now(),
    lease_expire_time = now() + make_interval(secs => $4)
WHERE tenant_id = $1 AND id = $2 AND state = 'RUNNING'
RETURNING *;

-- name: finish_operation
UPDATE operations
SET state = $3, error_code = $4, error_reason = $5, error_message = $6, end_time = now(), update_time = now(),
    lease_expire_time = NULL
WHERE tenant_id = $1 AND id = $2 AND state = 'RUNNING'
RETURNING *;
