-- The status page's statements (issue 15), run by the API server's vauchflow_server/db/status_records.py.
-- Platform tables without tenant data: no tenant or operator setting is needed to read or write them.

-- name: insert_status_checks
-- The checks, and their counts added to the daily rollup (status_uptime_days) in the same statement. Rows are
-- upserted in (component, day) order, so two concurrent reports lock them in the same order.
WITH inserted AS (
    INSERT INTO status_checks (component, outcome, duration_ms, detail, check_time)
    SELECT * FROM unnest($1::text[], $2::text[], $3::float8[], $4::text[], $5::timestamptz[])
    RETURNING component, outcome, check_time
)
INSERT INTO status_uptime_days AS d (component, day, passed, failed)
SELECT component, (check_time AT TIME ZONE 'UTC')::date AS day,
       count(*) FILTER (WHERE outcome = 'PASSED'), count(*) FILTER (WHERE outcome = 'FAILED')
FROM inserted
GROUP BY component, day
ORDER BY component, day
ON CONFLICT (component, day) DO UPDATE SET passed = d.passed + excluded.passed, failed = d.failed + excluded.failed;

-- name: recent_status_checks
-- The newest $2 checks of each named component (index status_checks_by_component_time), newest first.
SELECT c.component, c.outcome, c.duration_ms, c.detail, c.check_time
FROM unnest($1::text[]) AS named (component)
CROSS JOIN LATERAL (
    SELECT * FROM status_checks AS s WHERE s.component = named.component ORDER BY s.check_time DESC LIMIT $2
) AS c
ORDER BY c.component, c.check_time DESC;

-- name: daily_status_uptime
-- Passed and failed checks per component and UTC day from $1 on (not-deployed checks count neither way), from the
-- rollup the check inserts keep.
SELECT component, day, passed, failed FROM status_uptime_days WHERE day >= $1::date;

-- name: status_failure_streak_start
-- When the component's current run of failed checks began (NULL when its newest check did not fail).
SELECT min(check_time) FROM status_checks
WHERE component = $1 AND outcome = 'FAILED'
  AND check_time > coalesce(
      (SELECT max(check_time) FROM status_checks WHERE component = $1 AND outcome <> 'FAILED'), '-infinity');

-- name: insert_status_incident
INSERT INTO status_incidents (id, title, state, components, affected_plans, creation_request_id,
                              creation_request_hash, create_time, update_time)
VALUES ($1, $2, 'INVESTIGATING', $3, $4, $5, $6, $7, $7)
ON CONFLICT (creation_request_id) DO NOTHING
RETURNING *;

-- name: get_status_incident_by_request_id
SELECT * FROM status_incidents WHERE creation_request_id = $1;

-- name: insert_status_incident_update
INSERT INTO status_incident_updates (incident_id, state, message, affected_endpoints, workaround,
                                     expected_resolution_time, catch_up_window, author, create_time)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
RETURNING *;

-- name: get_status_incident
SELECT * FROM status_incidents WHERE id = $1;

-- name: lock_status_incident
-- Updates of one incident queue behind each other, so a state transition is checked against the latest state.
SELECT * FROM status_incidents WHERE id = $1 FOR UPDATE;

-- name: set_status_incident_state
UPDATE status_incidents
SET state = $2, update_time = $3, resolve_time = CASE WHEN $2 = 'RESOLVED' THEN $3 ELSE resolve_time END
WHERE id = $1
RETURNING *;

-- name: require_status_postmortem
UPDATE status_incidents SET postmortem_required = true WHERE id = ANY($1::uuid[]) AND NOT postmortem_required;

-- name: open_status_incidents
SELECT * FROM status_incidents WHERE state <> 'RESOLVED' ORDER BY create_time, id;

-- name: resolved_status_incidents_since
SELECT * FROM status_incidents WHERE state = 'RESOLVED' AND resolve_time >= $1 ORDER BY resolve_time DESC, id;

-- name: list_status_incidents
SELECT * FROM status_incidents
WHERE $1::timestamptz IS NULL OR (create_time, id) < ($1, $2::uuid)
ORDER BY create_time DESC, id DESC
LIMIT $3;

-- name: status_incident_updates
-- Newest first, per incident.
SELECT * FROM status_incident_updates WHERE incident_id = ANY($1::uuid[]) ORDER BY incident_id, id DESC;

-- Incident changes as events (the status outbox), and subscriptions (migration 0011)

-- name: insert_status_event
INSERT INTO status_events (event_id, type, payload, create_time) VALUES ($1, $2, $3, $4);

-- name: insert_status_subscription
-- NULL when the email address is subscribed already (its index is taken).
INSERT INTO status_subscriptions (id, kind, email_index, email_index_key_version, url, sealed_contact,
                                  sealed_contact_nonce, sealed_contact_key_version, confirm_token_hash,
                                  unsubscribe_token_hash, confirm_time, create_time)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
ON CONFLICT (email_index) DO NOTHING
RETURNING id;

-- name: status_subscription_by_email_index
SELECT id, confirm_time FROM status_subscriptions WHERE email_index = ANY($1::bytea[]);

-- name: insert_status_confirmation
-- The opt-in mail, queued for the delivery service in the subscribing transaction.
INSERT INTO status_notifications (id, subscription_id, kind) VALUES ($1, $2, 'CONFIRMATION');

-- name: confirm_status_subscription
-- The confirmation token works once; afterwards only the unsubscribe token is left.
UPDATE status_subscriptions SET confirm_time = $2, confirm_token_hash = NULL
WHERE confirm_token_hash = $1
RETURNING id;

-- name: delete_status_subscription
-- The subscription and everything queued for it go (status_notifications cascade): the address is not kept.
DELETE FROM status_subscriptions WHERE unsubscribe_token_hash = $1 RETURNING id;
