-- Every statement the API server runs, by name. Loaded by queries.py; run only by database.py.
-- Tenant tables are filtered by row-level security (app.tenant_id is set per transaction), and the
-- statements also name tenant_id where it lets an index be used.

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
UPDATE tenants
SET name = $2, plan = $3, requests_per_second = $4, burst = $5, max_vouchers = $6, max_webhook_endpoints = $7,
    update_time = now()
WHERE id = $1
RETURNING *;

-- name: notify_tenant_changed
-- Sent on commit: every server drops the cached API keys of the tenant, whose plan or limits they carry.
SELECT pg_notify('vauchflow_tenant_changed', $1::text);

-- name: insert_api_key
INSERT INTO api_keys (tenant_id, id, name, permissions, secret_hash, secret_prefix, created_by_key_id)
VALUES ($1, $2, $3, $4, $5, $6, $7)
RETURNING *;

-- name: count_active_api_keys
SELECT count(*) FROM api_keys WHERE tenant_id = $1 AND revoke_time IS NULL;

-- name: insert_api_key_audit_event
INSERT INTO api_key_audit_events (tenant_id, action, key_id, key_name, permissions, actor_key_id)
VALUES ($1, $2, $3, $4, $5, $6);

-- name: list_api_key_audit_events
-- Newest first.
SELECT * FROM api_key_audit_events
WHERE tenant_id = $1 AND ($2::bigint IS NULL OR id < $2)
ORDER BY id DESC
LIMIT $3;

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

-- name: get_api_key_for_update
SELECT * FROM api_keys WHERE tenant_id = $1 AND id = $2 FOR UPDATE;

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
                      valid_from, valid_until, min_order_amount, metadata, status, flash_sale)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
RETURNING *;

-- name: get_voucher_by_code
-- A campaign's code comes with what a redeem needs of its campaign (status, campaign-wide limits).
SELECT v.*, c.status AS campaign_status, c.max_redemptions AS campaign_max_redemptions,
       c.per_customer_limit AS campaign_per_customer_limit, c.redemption_count AS campaign_redemption_count
FROM vouchers AS v LEFT JOIN campaigns AS c ON c.tenant_id = v.tenant_id AND c.id = v.campaign_id
WHERE v.tenant_id = $1 AND v.code = $2;

-- name: get_voucher_for_update
SELECT * FROM vouchers WHERE tenant_id = $1 AND code = $2 FOR UPDATE;

-- name: get_voucher_by_id
SELECT v.*, c.status AS campaign_status, c.max_redemptions AS campaign_max_redemptions,
       c.per_customer_limit AS campaign_per_customer_limit, c.redemption_count AS campaign_redemption_count
FROM vouchers AS v LEFT JOIN campaigns AS c ON c.tenant_id = v.tenant_id AND c.id = v.campaign_id
WHERE v.tenant_id = $1 AND v.id = $2;

-- name: list_vouchers
-- Filters (each NULL for "any"): status, code range [$3, $4) for a prefix (byte order, as the index), campaign $8.
-- A metadata pair is list_vouchers_by_metadata's. Oldest first after the cursor ($5, $6).
SELECT * FROM vouchers
WHERE tenant_id = $1
  AND ($2::text IS NULL OR status = $2)
  AND ($3::text IS NULL OR (code COLLATE "C" >= $3 AND code COLLATE "C" < $4::text))
  AND ($8::uuid IS NULL OR campaign_id = $8)
  AND ($5::timestamptz IS NULL OR (create_time, id) > ($5, $6::uuid))
ORDER BY create_time, id
LIMIT $7;

-- name: list_vouchers_newest_first
-- list_vouchers, newest first before the cursor.
SELECT * FROM vouchers
WHERE tenant_id = $1
  AND ($2::text IS NULL OR status = $2)
  AND ($3::text IS NULL OR (code COLLATE "C" >= $3 AND code COLLATE "C" < $4::text))
  AND ($8::uuid IS NULL OR campaign_id = $8)
  AND ($5::timestamptz IS NULL OR (create_time, id) < ($5, $6::uuid))
ORDER BY create_time DESC, id DESC
LIMIT $7;

-- name: list_vouchers_by_metadata
-- list_vouchers with the metadata pair ($5 = $6): the matching ids come from vouchers_with_metadata (migration 0010
-- says why through a function), each row is then read by its key under the tenant policy and the page sorted. Meant
-- for selective pairs (an order reference, a customer); a pair most vouchers share sorts them all.
SELECT v.* FROM vouchers_with_metadata($5, $6::text) AS matching (id)
JOIN vouchers AS v ON v.tenant_id = $1 AND v.id = matching.id
WHERE v.tenant_id = $1
  AND ($2::text IS NULL OR v.status = $2)
  AND ($3::text IS NULL OR (v.code COLLATE "C" >= $3 AND v.code COLLATE "C" < $4::text))
  AND ($10::uuid IS NULL OR v.campaign_id = $10)
  AND ($7::timestamptz IS NULL OR (v.create_time, v.id) > ($7, $8::uuid))
ORDER BY v.create_time, v.id
LIMIT $9;

-- name: list_vouchers_by_metadata_newest_first
SELECT v.* FROM vouchers_with_metadata($5, $6::text) AS matching (id)
JOIN vouchers AS v ON v.tenant_id = $1 AND v.id = matching.id
WHERE v.tenant_id = $1
  AND ($2::text IS NULL OR v.status = $2)
  AND ($3::text IS NULL OR (v.code COLLATE "C" >= $3 AND v.code COLLATE "C" < $4::text))
  AND ($10::uuid IS NULL OR v.campaign_id = $10)
  AND ($7::timestamptz IS NULL OR (v.create_time, v.id) < ($7, $8::uuid))
ORDER BY v.create_time DESC, v.id DESC
LIMIT $9;

-- name: update_voucher_terms
UPDATE vouchers
SET percent_off = $3, amount_off = $4, currency = $5, max_redemptions = $6, per_customer_limit = $7,
    valid_from = $8, valid_until = $9, min_order_amount = $10, metadata = $11, status = $12, flash_sale = $13,
    update_time = now()
WHERE tenant_id = $1 AND code = $2
RETURNING *;

-- name: redeem
-- One redemption in one statement (DESIGN.md invariants 1 and 4): the atomic conditional UPDATE with its row-count
-- check (no row from `taken` → nothing below is inserted and the engine rolls back), the redemption row, its
-- redemption.succeeded event, and voucher.exhausted when this took the last unit. Concurrent redeemers queue on
-- the row lock and re-check the condition after it, so the count can never pass max_redemptions (the CHECK
-- constraint backs this up). The engine runs it last in its transaction, so the lock is held only until COMMIT.
-- The conditions are a guard, not a second decision: they repeat what redemption_rules.decide_redeem checked on the
-- voucher as the engine read it (state, stock, validity window, minimum amount, currency), so that nothing that
-- changed before this row lock (another redeem, an update of the terms) slips through. When they refuse, no row comes
-- back and the engine names the reason by running decide_redeem again on the row as it is now.
WITH taken AS (
    UPDATE vouchers
    SET redemption_count = redemption_count + 1, update_time = now()
    WHERE tenant_id = $1 AND id = $2
      AND status = 'ACTIVE'
      AND (max_redemptions IS NULL OR redemption_count < max_redemptions)
      AND (valid_from IS NULL OR valid_from <= $3)
      AND (valid_until IS NULL OR $3 < valid_until)
      AND (min_order_amount IS NULL OR min_order_amount <= $4)
      AND (currency IS NULL OR currency = $5)
    RETURNING *
), redemption AS (
    INSERT INTO redemptions (tenant_id, id, voucher_id, voucher_code, customer_id, order_id, order_amount, currency,
                             discount_amount, status, metadata)
    SELECT tenant_id, $6, id, code, $7, $8, $4, $5, $9, 'SUCCEEDED', $10 FROM taken
    RETURNING create_time
), events AS (
    -- One INSERT, so redemption.succeeded gets the lower outbox id (causal order); the second row only when this
    -- redemption took the voucher's last unit.
    INSERT INTO outbox_events (tenant_id, event_id, type, payload)
    SELECT $1::uuid, $11::uuid, $12::text, $13::jsonb FROM redemption
    UNION ALL
    SELECT tenant_id, $14::uuid, $15::text, $16::jsonb FROM taken WHERE redemption_count = max_redemptions
)
SELECT taken.*, redemption.create_time AS redemption_create_time FROM taken, redemption;

-- name: vouchers_by_codes
SELECT v.*, c.status AS campaign_status, c.max_redemptions AS campaign_max_redemptions,
       c.per_customer_limit AS campaign_per_customer_limit, c.redemption_count AS campaign_redemption_count
FROM vouchers AS v LEFT JOIN campaigns AS c ON c.tenant_id = v.tenant_id AND c.id = v.campaign_id
WHERE v.tenant_id = $1 AND v.code = ANY ($2::text[]);

-- name: vouchers_for_batch
-- A redemption batch's vouchers, locked until COMMIT in id order (so two batches never wait on each other in a
-- circle). Locked, they cannot change before the batch's write: its decisions stay true.
-- The campaign row is read, not locked: a batch never takes a code whose campaign has campaign-wide limits.
SELECT v.*, c.status AS campaign_status, c.max_redemptions AS campaign_max_redemptions,
       c.per_customer_limit AS campaign_per_customer_limit, c.redemption_count AS campaign_redemption_count
FROM vouchers AS v LEFT JOIN campaigns AS c ON c.tenant_id = v.tenant_id AND c.id = v.campaign_id
WHERE v.tenant_id = $1 AND v.code = ANY ($2::text[]) ORDER BY v.id FOR UPDATE OF v;

-- name: claim_idempotency_keys
-- A batch's keys, claimed in key order (no lock cycle with another batch); returns the keys this transaction now
-- owns. Like claim_idempotency_key, a key another transaction is inserting is waited for.
INSERT INTO idempotency_keys (tenant_id, operation, key, request_hash, response)
SELECT $1, $2, k.key, k.request_hash, k.response
FROM unnest($3::text[], $4::bytea[], $5::bytea[]) AS k (key, request_hash, response)
ORDER BY k.key
ON CONFLICT (tenant_id, operation, key) DO NOTHING
RETURNING key;

-- name: redeem_batch
-- A batch's redemptions in one statement (DESIGN.md invariants 1 and 4): each voucher's count goes up by the
-- redemptions the engine decided on the locked rows (vouchers_for_batch), the redemption rows and events are
-- inserted in decision order, and the keys claimed for redemptions that were not written are released.
-- The UPDATE is still conditional, with a row-count check: vouchers_counted must equal the vouchers given, or the
-- engine rolls the whole batch back (the locked read makes that impossible; this and the CHECK constraint on
-- redemption_count are the backstops).
WITH taken AS (
    UPDATE vouchers AS v
    SET redemption_count = v.redemption_count + t.units, update_time = now()
    FROM unnest($2::uuid[], $3::int[]) AS t (voucher_id, units)
    WHERE v.tenant_id = $1 AND v.id = t.voucher_id
      AND v.status = 'ACTIVE'
      AND (v.max_redemptions IS NULL OR v.redemption_count + t.units <= v.max_redemptions)
    RETURNING v.id
), redemption AS (
    INSERT INTO redemptions (tenant_id, id, voucher_id, voucher_code, customer_id, order_id, order_amount, currency,
                             discount_amount, status, metadata)
    SELECT $1, r.id, r.voucher_id, r.voucher_code, r.customer_id, r.order_id, r.order_amount, r.currency,
           r.discount_amount, 'SUCCEEDED', r.metadata
    FROM unnest($4::uuid[], $5::uuid[], $6::text[], $7::text[], $8::text[], $9::bigint[], $10::text[], $11::bigint[],
                $12::jsonb[]) WITH ORDINALITY
         AS r (id, voucher_id, voucher_code, customer_id, order_id, order_amount, currency, discount_amount, metadata,
               position)
    ORDER BY r.position
), events AS (
    INSERT INTO outbox_events (tenant_id, event_id, type, payload)
    SELECT $1, e.event_id, e.type, e.payload
    FROM unnest($13::uuid[], $14::text[], $15::jsonb[]) WITH ORDINALITY AS e (event_id, type, payload, position)
    ORDER BY e.position
), released AS (
    DELETE FROM idempotency_keys WHERE tenant_id = $1 AND operation = $16 AND key = ANY ($17::text[])
)
SELECT now() AS redeemed_at, (SELECT count(*) FROM taken) AS vouchers_counted;

-- name: give_back_redemption
UPDATE vouchers
SET redemption_count = redemption_count - 1, update_time = now()
WHERE tenant_id = $1 AND id = $2 AND redemption_count > 0
RETURNING *;

-- name: take_customer_redemption
-- The per-customer limit, just as atomic: the upsert only increments below the limit. No row: the engine reads the
-- count and decide_redeem names the reason.
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

-- name: get_redemption
SELECT * FROM redemptions WHERE tenant_id = $1 AND id = $2;

-- name: list_redemptions
-- Filters (each NULL for "any"): voucher, customer, status, created in [$5, $6), campaign $10 (its codes through
-- vouchers_by_campaign). Oldest first after the cursor.
SELECT * FROM redemptions
WHERE tenant_id = $1
  AND ($2::uuid IS NULL OR voucher_id = $2)
  AND ($3::text IS NULL OR customer_id = $3)
  AND ($4::text IS NULL OR status = $4)
  AND ($5::timestamptz IS NULL OR create_time >= $5)
  AND ($6::timestamptz IS NULL OR create_time < $6)
  AND ($10::uuid IS NULL OR voucher_id IN (SELECT id FROM vouchers WHERE tenant_id = $1 AND campaign_id = $10))
  AND ($7::timestamptz IS NULL OR (create_time, id) > ($7, $8::uuid))
ORDER BY create_time, id
LIMIT $9;

-- name: list_redemptions_newest_first
-- list_redemptions, newest first before the cursor.
SELECT * FROM redemptions
WHERE tenant_id = $1
  AND ($2::uuid IS NULL OR voucher_id = $2)
  AND ($3::text IS NULL OR customer_id = $3)
  AND ($4::text IS NULL OR status = $4)
  AND ($5::timestamptz IS NULL OR create_time >= $5)
  AND ($6::timestamptz IS NULL OR create_time < $6)
  AND ($10::uuid IS NULL OR voucher_id IN (SELECT id FROM vouchers WHERE tenant_id = $1 AND campaign_id = $10))
  AND ($7::timestamptz IS NULL OR (create_time, id) < ($7, $8::uuid))
ORDER BY create_time DESC, id DESC
LIMIT $9;

-- name: roll_back_redemption
-- Exactly once: only a SUCCEEDED redemption changes, and the row lock serialises concurrent rollbacks.
UPDATE redemptions SET status = 'ROLLED_BACK', rollback_time = now(), rollback_reason = $3
WHERE tenant_id = $1 AND id = $2 AND status = 'SUCCEEDED'
RETURNING *;

-- name: list_events
-- Oldest first by (transaction, id). Only events of transactions older than every running one are listed: a
-- long transaction that holds a lower position and commits later is then never skipped by a client paging on.
SELECT event_id, type, payload, create_time, transaction_id::text::bigint AS transaction_position, id
FROM outbox_events
WHERE tenant_id = $1
  AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
  AND ($2::text[] IS NULL OR type = ANY($2))
  AND ($3::timestamptz IS NULL OR create_time >= $3)
  AND ($4::timestamptz IS NULL OR create_time < $4)
  AND ($5::bigint IS NULL OR (transaction_id, id) > ($5::bigint::text::xid8, $6::bigint))
ORDER BY transaction_id, id
LIMIT $7;

-- name: get_event
SELECT event_id, type, payload, create_time, transaction_id::text::bigint AS transaction_position, id
FROM outbox_events
WHERE tenant_id = $1 AND event_id = $2;

-- name: tenant_limits
SELECT plan, requests_per_second, burst, max_vouchers, max_webhook_endpoints FROM tenants WHERE id = $1;

-- name: lock_quota
-- Serialises creators of one kind of resource in one tenant, so a count-then-insert quota check is exact.
SELECT pg_advisory_xact_lock(hashtextextended($1::text || '/' || $2, 0));

-- name: count_vouchers
SELECT count(*) FROM vouchers WHERE tenant_id = $1;

-- name: count_webhook_endpoints
SELECT count(*) FROM webhook_endpoints WHERE tenant_id = $1;

-- name: insert_webhook_endpoint
INSERT INTO webhook_endpoints (tenant_id, id, url, description, event_types, enabled, disabled_reason,
                               secret_ciphertext, secret_nonce, secret_key_version)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
RETURNING *;

-- name: get_webhook_endpoint
SELECT * FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2;

-- name: get_webhook_endpoint_for_update
SELECT * FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2 FOR UPDATE;

-- name: list_webhook_endpoints
SELECT * FROM webhook_endpoints
WHERE tenant_id = $1 AND ($2::timestamptz IS NULL OR (create_time, id) > ($2, $3::uuid))
ORDER BY create_time, id
LIMIT $4;

-- name: list_enabled_webhook_endpoints
SELECT * FROM webhook_endpoints WHERE tenant_id = $1 AND enabled ORDER BY create_time, id;

-- name: update_webhook_endpoint
-- Re-enabling clears why it was disabled and how long it had been failing.
UPDATE webhook_endpoints
SET url = $3, description = $4, event_types = $5, enabled = $6, disabled_reason = $7,
    failing_since = CASE WHEN $6 AND NOT enabled THEN NULL ELSE failing_since END,
    update_time = now()
WHERE tenant_id = $1 AND id = $2
RETURNING *;

-- name: delete_webhook_endpoint
-- Its deliveries and their attempts go with it (ON DELETE CASCADE).
DELETE FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2 RETURNING id;

-- name: rotate_webhook_secret
UPDATE webhook_endpoints
SET secret_ciphertext = $3, secret_nonce = $4, secret_key_version = $5,
    previous_secret_ciphertext = $6, previous_secret_nonce = $7, previous_secret_key_version = $8,
    previous_secret_expire_time = now() + make_interval(secs => $9),
    update_time = now()
WHERE tenant_id = $1 AND id = $2
RETURNING *;

-- name: insert_webhook_delivery
INSERT INTO webhook_deliveries (tenant_id, id, endpoint_id, event_id, event_type, status)
VALUES ($1, $2, $3, $4, $5, 'PENDING')
RETURNING *;

-- name: requeue_webhook_delivery
-- Queues the event for the endpoint again: a new PENDING delivery, or the finished one re-opened. A delivery that
-- is still PENDING is left alone: it may be in flight, and its lease (next_attempt_time) must stand.
INSERT INTO webhook_deliveries AS d (tenant_id, id, endpoint_id, event_id, event_type, status)
VALUES ($1, $2, $3, $4, $5, 'PENDING')
ON CONFLICT (tenant_id, endpoint_id, event_id)
DO UPDATE SET status = 'PENDING', next_attempt_time = now(), delivered_time = NULL WHERE d.status <> 'PENDING'
RETURNING *;

-- name: get_webhook_delivery_of_event
SELECT * FROM webhook_deliveries WHERE tenant_id = $1 AND endpoint_id = $2 AND event_id = $3;

-- name: endpoints_with_delivery_of_event
SELECT endpoint_id FROM webhook_deliveries WHERE tenant_id = $1 AND event_id = $2;

-- name: recover_webhook_deliveries
-- Failed deliveries to one endpoint whose event was created in [$3, $4) become PENDING and due now.
UPDATE webhook_deliveries AS d
SET status = 'PENDING', next_attempt_time = now()
FROM outbox_events AS e
WHERE d.tenant_id = $1 AND d.endpoint_id = $2 AND d.status = 'FAILED'
  AND e.tenant_id = d.tenant_id AND e.event_id = d.event_id
  AND ($3::timestamptz IS NULL OR e.create_time >= $3)
  AND ($4::timestamptz IS NULL OR e.create_time < $4);

-- name: list_webhook_deliveries
-- Newest first.
SELECT * FROM webhook_deliveries
WHERE tenant_id = $1 AND endpoint_id = $2
  AND ($3::timestamptz IS NULL OR (create_time, id) < ($3, $4::uuid))
ORDER BY create_time DESC, id DESC
LIMIT $5;

-- name: list_webhook_delivery_attempts
-- The newest $3 attempts of each delivery in $2, newest first.
SELECT * FROM (
    SELECT a.*, row_number() OVER (PARTITION BY a.delivery_id ORDER BY a.id DESC) AS recency
    FROM webhook_delivery_attempts AS a
    WHERE a.tenant_id = $1 AND a.delivery_id = ANY($2::uuid[])
) AS ranked
WHERE recency <= $3
ORDER BY delivery_id, id DESC;

-- name: endpoint_secrets_to_reencrypt
-- Across tenants (run by the owner): endpoints holding a secret sealed under another key version than $1, or a
-- previous secret that has expired, after ($2, $3) in key order.
SELECT tenant_id, id, secret_ciphertext, secret_nonce, secret_key_version,
       previous_secret_ciphertext, previous_secret_nonce, previous_secret_key_version, previous_secret_expire_time,
       previous_secret_expire_time <= now() AS previous_expired
FROM webhook_endpoints
WHERE (secret_key_version <> $1 OR previous_secret_key_version <> $1 OR previous_secret_expire_time <= now())
  AND ($2::uuid IS NULL OR (tenant_id, id) > ($2, $3::uuid))
ORDER BY tenant_id, id
LIMIT $4
FOR UPDATE;

-- name: store_endpoint_secrets
UPDATE webhook_endpoints
SET secret_ciphertext = $3, secret_nonce = $4, secret_key_version = $5,
    previous_secret_ciphertext = $6, previous_secret_nonce = $7, previous_secret_key_version = $8,
    previous_secret_expire_time = $9
WHERE tenant_id = $1 AND id = $2;


-- name: commit_position
-- Read-your-writes (vauchflow_core.commit_positions): the primary's WAL insert position as a byte offset. Read
-- after a write committed, it is at or past the write's commit record.
SELECT (pg_current_wal_insert_lsn() - '0/0'::pg_lsn)::bigint;

-- name: replayed_position
-- On a streaming replica: how far it has replayed the primary's WAL (a byte offset, as commit_position).
SELECT (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::bigint;

-- name: usage_by_hour
-- Successful redemptions (by when they were made) and rollbacks (by when they were made) per hour since $2, an hour
-- boundary: date_bin keeps the buckets on $2's grid whatever the session's time zone.
SELECT hour, sum(redemptions)::bigint AS redemptions, sum(rollbacks)::bigint AS rollbacks
FROM (
    SELECT date_bin('1 hour', create_time, $2::timestamptz) AS hour, count(*) AS redemptions, 0 AS rollbacks
    FROM redemptions WHERE tenant_id = $1 AND create_time >= $2
    GROUP BY 1
    UNION ALL
    SELECT date_bin('1 hour', rollback_time, $2::timestamptz), 0, count(*)
    FROM redemptions WHERE tenant_id = $1 AND rollback_time >= $2
    GROUP BY 1
) AS counts
GROUP BY hour;

-- name: usage_webhook_deliveries
-- Deliveries created since $2, as of $3. A delivery is judged for "within an hour" once delivered or an hour old.
SELECT count(*) AS total,
       count(*) FILTER (WHERE status = 'DELIVERED') AS delivered,
       count(*) FILTER (WHERE status = 'DELIVERED' AND delivered_time <= create_time + interval '1 hour')
           AS delivered_within_hour,
       count(*) FILTER (WHERE status = 'PENDING') AS pending,
       count(*) FILTER (WHERE status = 'FAILED') AS failed,
       count(*) FILTER (WHERE status = 'DELIVERED' OR create_time <= $3::timestamptz - interval '1 hour') AS judged
FROM webhook_deliveries
WHERE tenant_id = $1 AND create_time >= $2::timestamptz;
