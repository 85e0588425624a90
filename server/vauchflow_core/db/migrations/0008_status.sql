-- The public status page's data (issue 15): the prober's check results, incidents and their updates.
--
-- Platform data, not tenant data: no tenant_id, so no row-level security policy is needed for isolation; the
-- server's role still cannot bypass RLS on every tenant table. Check results and incident updates are append-only
-- for the server's role (no UPDATE, no DELETE: an incident's history is immutable); an incident row itself is
-- updated only to carry its current state and the flags derived from its updates.

CREATE TABLE status_checks (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    component text NOT NULL CHECK (component IN ('api', 'redemption', 'webhooks', 'mcp', 'dashboard', 'backups')),
    outcome text NOT NULL CHECK (outcome IN ('PASSED', 'FAILED', 'NOT_DEPLOYED')),
    duration_ms double precision CHECK (duration_ms >= 0),
    detail text NOT NULL DEFAULT '' CHECK (length(detail) <= 200),
    check_time timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX status_checks_by_component_time ON status_checks (component, check_time DESC);

CREATE TABLE status_incidents (
    id uuid PRIMARY KEY,
    title text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    state text NOT NULL CHECK (state IN ('INVESTIGATING', 'IDENTIFIED', 'MONITORING', 'RESOLVED')),
    components text[] NOT NULL,
    affected_plans text[] NOT NULL DEFAULT '{}',
    -- Set once a named component was down for more than 15 minutes while the incident was open.
    postmortem_required boolean NOT NULL DEFAULT false,
    creation_request_id text UNIQUE,
    creation_request_hash bytea,
    create_time timestamptz NOT NULL DEFAULT now(),
    update_time timestamptz NOT NULL DEFAULT now(),
    resolve_time timestamptz
);
-- The open incidents are what the page, the prober's dedup and the overdue flag look at.
CREATE INDEX status_incidents_open ON status_incidents (create_time) WHERE state <> 'RESOLVED';
CREATE INDEX status_incidents_by_time ON status_incidents (create_time DESC, id);

CREATE TABLE status_incident_updates (
    incident_id uuid NOT NULL REFERENCES status_incidents (id),
    id bigint GENERATED ALWAYS AS IDENTITY,
    state text NOT NULL CHECK (state IN ('INVESTIGATING', 'IDENTIFIED', 'MONITORING', 'RESOLVED')),
    message text NOT NULL CHECK (length(message) BETWEEN 1 AND 5000),
    affected_endpoints text[] NOT NULL DEFAULT '{}',
    workaround text NOT NULL DEFAULT '',
    expected_resolution_time timestamptz,
    catch_up_window text NOT NULL DEFAULT '',
    author text NOT NULL CHECK (author IN ('operator', 'prober')),
    create_time timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (incident_id, id)
);

GRANT SELECT, INSERT ON status_checks, status_incident_updates TO vauchflow_app;
GRANT SELECT, INSERT, UPDATE ON status_incidents TO vauchflow_app;
