-- The status page's statements (issue 15), run by the API server's vauchflow_server/db/status_records.py.
-- Platform tables without tenant data: no tenant or operator setting is needed to read or write them.

-- name: insert_status_checks
INSERT INTO status_checks (component, outcome, duration_ms, detail, check_time)
SELECT * FROM unnest($1::text[], $2::text[], $3::float8[], $4::text[], $5::timestamptz[]);

-- name: recent_status_checks
-- The newest $2 checks of each named component (index status_checks_by_component_time), newest first.
SELECT c.component, c.outcome, c.duration_ms, c.detail, c.check_time
FROM unnest($1::text[]) AS named (component)
CROSS JOIN LATERAL (
    SELECT * FROM status_checks AS s WHERE s.component = named.component ORDER BY s.check_time DESC LIMIT $2
) AS c
ORDER BY c.component, c.check_time DESC;

-- name: daily_status_uptime
-- Passed and failed checks per component and UTC day since $1 (not-deployed checks count neither way).
SELECT component, (check_time AT TIME ZONE 'UTC')::date AS day,
       count(*) FILTER (WHERE outcome = 'PASSED') AS passed,
       count(*) FILTER (WHERE outcome = 'FAILED') AS failed
FROM status_checks
WHERE check_time >= $1
GROUP BY component, day;

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
