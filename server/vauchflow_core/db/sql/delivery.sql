-- The delivery service's SQL, loaded by name (store.py runs it; nothing else does).
-- The relay and the dispatcher run as vauchflow_delivery (across tenants); the event stream as vauchflow_app,
-- inside a transaction that set app.tenant_id, so row-level security scopes every read.

-- Relay

-- name: lock_relay_position
-- SKIP LOCKED: when another relay holds the position, this one has nothing to do.
SELECT transaction_id::text AS transaction_id, event_id FROM outbox_relay_position FOR UPDATE SKIP LOCKED;

-- name: committed_events_waiting
-- The relay's poll: read-only and cheap, so it can run every few milliseconds. The ORDER BY ... LIMIT 1 walks the
-- (transaction_id, id) index from the position: one probe. A plain EXISTS was planned as a scan of the whole
-- outbox (nothing ever deletes from it), ~35 ms at 200,000 events and growing.
SELECT EXISTS (
    SELECT 1 FROM outbox_relay_position AS p CROSS JOIN LATERAL (
        SELECT 1 FROM outbox_events AS o
        WHERE (o.transaction_id, o.id) > (p.transaction_id, p.event_id)
          AND o.transaction_id < pg_snapshot_xmin(pg_current_snapshot())
        ORDER BY o.transaction_id, o.id
        LIMIT 1
    ) AS next_event
);

-- name: committed_events_after
-- Only transactions older than every running one: a transaction still running may hold a lower id, and
-- reading past it would skip its events once it commits.
SELECT tenant_id, id, event_id, type, transaction_id::text AS transaction_id
FROM outbox_events
WHERE (transaction_id, id) > ($1::text::xid8, $2::bigint)
  AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
ORDER BY transaction_id, id
LIMIT $3;

-- name: fan_out_events
-- One PENDING delivery per enabled endpoint whose filter matches. webhook.test events are delivered only to the
-- endpoint they were sent to (SendTestEvent writes that delivery itself).
INSERT INTO webhook_deliveries (tenant_id, id, endpoint_id, event_id, event_type, status)
SELECT e.tenant_id, gen_random_uuid(), w.id, e.event_id, e.type, 'PENDING'
FROM unnest($1::uuid[], $2::uuid[], $3::text[]) AS e (tenant_id, event_id, type)
JOIN webhook_endpoints AS w
  ON w.tenant_id = e.tenant_id AND w.enabled AND (cardinality(w.event_types) = 0 OR e.type = ANY (w.event_types))
WHERE e.type <> 'webhook.test'
ON CONFLICT (tenant_id, endpoint_id, event_id) DO NOTHING;

-- name: move_relay_position
UPDATE outbox_relay_position SET transaction_id = $1::text::xid8, event_id = $2;

-- name: notify_events_relayed
-- Wakes the event streams of every delivery service replica: the payload lists the tenants whose events were
-- relayed (empty: wake every stream), so only their streams query. Only the relay notifies (once per relayed
-- batch: at most one per poll interval while events trickle in): a NOTIFY serialises commits, so the transactions
-- that write events never send one.
SELECT pg_notify('vauchflow_events_relayed', $1);

-- Dispatcher

-- name: due_deliveries
-- Rows another worker holds are skipped, not waited for. The caller takes some and leases them in the same
-- transaction; the rest are left untouched when it commits.
SELECT d.tenant_id, d.id, d.endpoint_id, d.event_id, d.event_type, d.attempt_count, w.enabled, t.plan
FROM webhook_deliveries AS d
JOIN webhook_endpoints AS w ON w.tenant_id = d.tenant_id AND w.id = d.endpoint_id
JOIN tenants AS t ON t.id = d.tenant_id
WHERE d.status = 'PENDING' AND d.next_attempt_time <= now()
  -- Endpoints this worker already sends its per-endpoint limit to.
  AND NOT (d.endpoint_id = ANY ($2::uuid[]))
  -- Tenants already at their plan's share of this worker: their backlog must not fill the window and hide the
  -- other tenants' due rows behind it.
  AND NOT (d.tenant_id = ANY ($3::uuid[]))
ORDER BY d.next_attempt_time
LIMIT $1
FOR UPDATE OF d SKIP LOCKED;

-- name: lease_deliveries
-- next_attempt_time becomes the lease's expiry: if this worker dies, the attempt is due again after it.
-- The UPDATE finds its rows by primary key alone, then the endpoint and payload are joined (foreign keys make
-- both exist). Joined inside the UPDATE, the planner could reach the rows through the endpoint's index and read
-- every delivery the endpoint ever had, per row leased: under load, that made leasing the dispatcher's limit.
WITH leased AS (
    UPDATE webhook_deliveries AS d
    SET attempt_count = d.attempt_count + 1, next_attempt_time = now() + make_interval(secs => $3)
    FROM unnest($1::uuid[], $2::uuid[]) AS k (tenant_id, id)
    WHERE d.tenant_id = k.tenant_id AND d.id = k.id
    RETURNING d.tenant_id, d.id, d.endpoint_id, d.event_id, d.event_type, d.attempt_count
)
SELECT l.tenant_id, l.id, l.endpoint_id, l.event_id, l.event_type, l.attempt_count, o.payload, w.url,
       w.secret_ciphertext, w.secret_nonce, w.secret_key_version,
       w.previous_secret_ciphertext, w.previous_secret_nonce, w.previous_secret_key_version,
       w.previous_secret_expire_time, now() AS lease_start
FROM leased AS l
JOIN webhook_endpoints AS w ON w.tenant_id = l.tenant_id AND w.id = l.endpoint_id
JOIN outbox_events AS o ON o.tenant_id = l.tenant_id AND o.event_id = l.event_id;

-- name: fail_deliveries_of_disabled_endpoints
UPDATE webhook_deliveries SET status = 'FAILED'
WHERE (tenant_id, id) IN (SELECT * FROM unnest($1::uuid[], $2::uuid[])) AND status = 'PENDING';

-- name: insert_attempt
INSERT INTO webhook_delivery_attempts (tenant_id, delivery_id, attempt_number, http_status, latency_ms,
                                       response_body, error)
VALUES ($1, $2, $3, $4, $5, $6, $7);

-- name: record_delivered
-- Successful attempts, many at once: each attempt row, each delivery's success and each endpoint's recovery, in
-- one atomic statement and one commit (every commit waits for a WAL flush; at 1,000 deliveries/s a commit per
-- delivery was the dispatcher's bottleneck). Whoever's attempt succeeded, the delivery is done (a lease that ran
-- out may have let two attempts overlap). Arrays: tenant ids, delivery ids, attempt numbers, statuses, latencies,
-- bodies, errors, endpoint ids — one element per attempt.
WITH attempt AS (
    INSERT INTO webhook_delivery_attempts (tenant_id, delivery_id, attempt_number, http_status, latency_ms,
                                           response_body, error)
    SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::int[], $4::int[], $5::int[], $6::text[], $7::text[])
), delivered AS (
    UPDATE webhook_deliveries AS d SET status = 'DELIVERED', delivered_time = now()
    FROM unnest($1::uuid[], $2::uuid[]) AS x (tenant_id, id)
    WHERE d.tenant_id = x.tenant_id AND d.id = x.id AND d.status = 'PENDING'
    RETURNING d.id, d.create_time, d.delivered_time
), recovered AS (
    UPDATE webhook_endpoints AS e SET failing_since = NULL
    FROM (SELECT DISTINCT * FROM unnest($1::uuid[], $8::uuid[])) AS y (tenant_id, endpoint_id)
    WHERE e.tenant_id = y.tenant_id AND e.id = y.endpoint_id AND e.failing_since IS NOT NULL
)
SELECT id, create_time, delivered_time FROM delivered;

-- name: schedule_retry
-- Only the attempt that holds the lease decides what comes next.
UPDATE webhook_deliveries SET next_attempt_time = now() + make_interval(secs => $4)
WHERE tenant_id = $1 AND id = $2 AND status = 'PENDING' AND attempt_count = $3
RETURNING id;

-- name: mark_failed
UPDATE webhook_deliveries SET status = 'FAILED'
WHERE tenant_id = $1 AND id = $2 AND status = 'PENDING' AND attempt_count = $3
RETURNING id;

-- name: mark_endpoint_failing
-- The first failure after a success starts the clock; the result says how long the endpoint has been failing.
UPDATE webhook_endpoints SET failing_since = coalesce(failing_since, now())
WHERE tenant_id = $1 AND id = $2
RETURNING extract(epoch FROM now() - failing_since)::float8 AS failing_seconds;

-- name: disable_endpoint
-- WHERE enabled: of two workers disabling the same endpoint, one does it (and writes the event).
UPDATE webhook_endpoints SET enabled = false, disabled_reason = $3, update_time = now()
WHERE tenant_id = $1 AND id = $2 AND enabled
RETURNING url;

-- name: fail_pending_deliveries_of_endpoint
UPDATE webhook_deliveries SET status = 'FAILED'
WHERE tenant_id = $1 AND endpoint_id = $2 AND status = 'PENDING';

-- name: release_lease
-- Shutdown: the attempt was not made (or its outcome is unknown); due again now, and not counted.
UPDATE webhook_deliveries SET next_attempt_time = now(), attempt_count = attempt_count - 1
WHERE tenant_id = $1 AND id = $2 AND status = 'PENDING' AND attempt_count = $3;

-- name: next_due_in
-- Seconds until the earliest PENDING delivery (or lease) is due; NULL when there is none.
SELECT extract(epoch FROM min(next_attempt_time) - now())::float8 FROM webhook_deliveries WHERE status = 'PENDING';

-- Metrics

-- name: outbox_backlog
-- Events the relay has not passed yet, and the age of the oldest.
SELECT count(*) AS events, coalesce(extract(epoch FROM now() - min(o.create_time)), 0)::float8 AS lag_seconds
FROM outbox_events AS o, outbox_relay_position AS p
WHERE (o.transaction_id, o.id) > (p.transaction_id, p.event_id);

-- name: pending_deliveries
SELECT count(*) FROM webhook_deliveries WHERE status = 'PENDING';

-- name: delivery_ratio_24h
-- Deliveries created in the last 24 hours whose fate within their first hour is known: delivered within it, or
-- failed, or still not delivered an hour on. Ones younger than an hour and still pending can still make it.
SELECT count(*) FILTER (WHERE status = 'DELIVERED' AND delivered_time <= create_time + interval '1 hour')
           AS delivered_within_hour,
       count(*) FILTER (WHERE status <> 'PENDING' OR create_time <= now() - interval '1 hour') AS decided
FROM webhook_deliveries
WHERE create_time > now() - interval '24 hours';

-- Event stream (as vauchflow_app)

-- name: tenant_events_after
-- Same rule as the relay: nothing from a transaction that might still commit below the cursor.
SELECT id, event_id, type, payload, create_time, transaction_id::text::bigint AS transaction_position
FROM outbox_events
WHERE tenant_id = $1
  AND (transaction_id, id) > ($2::text::xid8, $3::bigint)
  AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
  AND (cardinality($4::text[]) = 0 OR type = ANY ($4::text[]))
ORDER BY transaction_id, id
LIMIT $5;


-- Retention

-- name: prune_idempotency_keys
-- A batch at a time (ctid list, not one long DELETE): short locks, short transactions.
DELETE FROM idempotency_keys
WHERE ctid = ANY (ARRAY(SELECT ctid FROM idempotency_keys WHERE create_time < now() - make_interval(secs => $1)
                        LIMIT $2));

-- name: prunable_events
-- Events older than the window that the relay has passed and that no delivery still waits to send (a PENDING
-- delivery needs its event's payload). Oldest first. Not locked (that would take UPDATE rights): the deletes
-- below re-check, so a concurrent pruner or a redelivery can only make them delete less.
SELECT o.tenant_id, o.event_id
FROM outbox_events AS o
WHERE o.create_time < now() - make_interval(secs => $1)
  AND (o.transaction_id, o.id) <= (SELECT transaction_id, event_id FROM outbox_relay_position)
  AND NOT EXISTS (SELECT FROM webhook_deliveries AS d
                  WHERE d.tenant_id = o.tenant_id AND d.event_id = o.event_id AND d.status = 'PENDING')
ORDER BY o.create_time
LIMIT $2;

-- name: prune_deliveries_of_events
-- Their attempts go with them (ON DELETE CASCADE). A delivery re-queued since the read above stays.
DELETE FROM webhook_deliveries
WHERE (tenant_id, event_id) IN (SELECT * FROM unnest($1::uuid[], $2::uuid[])) AND status <> 'PENDING';

-- name: prune_events
-- Only events left without deliveries: one re-queued meanwhile keeps its event.
DELETE FROM outbox_events AS o
WHERE (o.tenant_id, o.event_id) IN (SELECT * FROM unnest($1::uuid[], $2::uuid[]))
  AND NOT EXISTS (SELECT FROM webhook_deliveries AS d WHERE d.tenant_id = o.tenant_id AND d.event_id = o.event_id);

-- Status page notifications (migration 0011): the status outbox fanned out to subscribers, and their sending.

-- name: relay_status_events
-- Claims unrelayed status events (SKIP LOCKED: one relay takes each), queues one notification per confirmed
-- subscription and event, and stamps the events relayed; returns how many events it took.
WITH events AS (
    SELECT id FROM status_events WHERE relay_time IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED
), queued AS (
    INSERT INTO status_notifications (id, subscription_id, kind, event_id)
    SELECT gen_random_uuid(), s.id, 'EVENT', e.id
    FROM events AS e CROSS JOIN status_subscriptions AS s
    WHERE s.confirm_time IS NOT NULL
    ON CONFLICT (subscription_id, event_id) DO NOTHING
)
UPDATE status_events SET relay_time = now() FROM events WHERE status_events.id = events.id
RETURNING status_events.id;

-- name: claim_status_notifications
-- Due notifications, leased until now() + $2 seconds, with what sending them needs.
WITH due AS (
    SELECT id FROM status_notifications
    WHERE status = 'PENDING' AND next_attempt_time <= now()
    ORDER BY next_attempt_time
    LIMIT $1
    FOR UPDATE SKIP LOCKED
), leased AS (
    UPDATE status_notifications AS n
    SET next_attempt_time = now() + make_interval(secs => $2), attempt_count = n.attempt_count + 1
    FROM due WHERE n.id = due.id
    RETURNING n.id, n.subscription_id, n.kind, n.event_id, n.attempt_count
)
SELECT l.id, l.subscription_id, l.kind AS notification_kind, l.attempt_count, s.kind AS subscription_kind, s.url,
       s.sealed_contact, s.sealed_contact_nonce, s.sealed_contact_key_version,
       e.event_id, e.type AS event_type, e.payload
FROM leased AS l
JOIN status_subscriptions AS s ON s.id = l.subscription_id
LEFT JOIN status_events AS e ON e.id = l.event_id;

-- name: record_status_notification_sent
UPDATE status_notifications SET status = 'DELIVERED', delivered_time = now(), last_error = $2 WHERE id = $1;

-- name: record_status_notification_failed
-- $2 NULL: no more attempts (FAILED); else the next attempt in $2 seconds.
UPDATE status_notifications
SET status = CASE WHEN $2::float8 IS NULL THEN 'FAILED' ELSE 'PENDING' END,
    next_attempt_time = CASE WHEN $2::float8 IS NULL THEN next_attempt_time
                             ELSE now() + make_interval(secs => $2::float8) END,
    last_error = $3
WHERE id = $1;
