-- Status page, continued (issue 15): incident changes as events in a status outbox, subscriptions to them (email
-- with double opt-in, signed webhooks), the notifications the delivery service sends, and a daily uptime rollup.
-- (Assigned migration number 0011; numbered here after the last one this branch has, since versions run 1..N.)
--
-- Platform data, like migration 0008: no tenant_id and no RLS policy. Status events are not tenant events, so they
-- do not go into outbox_events (keyed by tenant, FK to tenants, RLS): a pseudo-tenant row would show up in the
-- operator's tenant list, plans and quotas, and give platform data a tenant identity it does not have.

-- The status outbox: written by the API server in the same transaction as the incident change it reports. The
-- delivery service fans each event out to the confirmed subscriptions and stamps relay_time; rows are claimed with
-- FOR UPDATE SKIP LOCKED, so an event committed late by a slow transaction is never passed over by a cursor.
CREATE TABLE status_events (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id uuid NOT NULL UNIQUE,
    type text NOT NULL,
    payload jsonb NOT NULL,
    create_time timestamptz NOT NULL DEFAULT now(),
    relay_time timestamptz
);
CREATE INDEX status_events_unrelayed ON status_events (id) WHERE relay_time IS NULL;

-- Subscribers. Whatever the delivery service must send (the email address, the webhook signing secret, the
-- confirmation and unsubscribe tokens that go into mails) is sealed with the webhook key ring (AES-256-GCM, AAD
-- binding the subscription and the purpose): a copy of the table names nobody. Tokens are looked up by their
-- SHA-256 hash only; addresses by an HMAC under the key ring (email_index, with the key version it was made with).
CREATE TABLE status_subscriptions (
    id uuid PRIMARY KEY,
    kind text NOT NULL CHECK (kind IN ('EMAIL', 'WEBHOOK')),
    email_index bytea UNIQUE CHECK ((kind = 'EMAIL') = (email_index IS NOT NULL)),
    email_index_key_version integer,
    url text CHECK ((kind = 'WEBHOOK') = (url IS NOT NULL) AND length(url) <= 2048),
    sealed_contact bytea NOT NULL,
    sealed_contact_nonce bytea NOT NULL CHECK (length(sealed_contact_nonce) = 12),
    sealed_contact_key_version integer NOT NULL,
    confirm_token_hash bytea UNIQUE,
    unsubscribe_token_hash bytea NOT NULL UNIQUE,
    -- NULL until the address confirmed (double opt-in); webhooks are confirmed when created.
    confirm_time timestamptz,
    create_time timestamptz NOT NULL DEFAULT now()
);
-- Pending email subscriptions never confirmed are what a sweep would remove.
CREATE INDEX status_subscriptions_unconfirmed ON status_subscriptions (create_time) WHERE confirm_time IS NULL;

-- What the delivery service sends: one row per confirmed subscription and event (EVENT), or the opt-in mail
-- (CONFIRMATION, written with the subscription). Claimed like webhook deliveries: FOR UPDATE SKIP LOCKED, leased
-- by moving next_attempt_time, retried on the webhook retry schedule.
CREATE TABLE status_notifications (
    id uuid PRIMARY KEY,
    subscription_id uuid NOT NULL REFERENCES status_subscriptions (id) ON DELETE CASCADE,
    kind text NOT NULL CHECK (kind IN ('CONFIRMATION', 'EVENT')),
    event_id bigint REFERENCES status_events (id) CHECK ((kind = 'EVENT') = (event_id IS NOT NULL)),
    status text NOT NULL DEFAULT 'PENDING' CHECK (status IN ('PENDING', 'DELIVERED', 'FAILED')),
    attempt_count integer NOT NULL DEFAULT 0,
    next_attempt_time timestamptz NOT NULL DEFAULT now(),
    last_error text NOT NULL DEFAULT '' CHECK (length(last_error) <= 200),
    create_time timestamptz NOT NULL DEFAULT now(),
    delivered_time timestamptz,
    UNIQUE (subscription_id, event_id)
);
CREATE INDEX status_notifications_due ON status_notifications (next_attempt_time) WHERE status = 'PENDING';
CREATE INDEX status_notifications_by_event ON status_notifications (event_id);

-- Passed and failed checks per component and UTC day, kept by the statement that stores checks, so the 90-day
-- figures read at most 90 rows per component instead of every check (at 30 s: 259,200 per component in 90 days).
CREATE TABLE status_uptime_days (
    component text NOT NULL,
    day date NOT NULL,
    passed integer NOT NULL DEFAULT 0 CHECK (passed >= 0),
    failed integer NOT NULL DEFAULT 0 CHECK (failed >= 0),
    PRIMARY KEY (component, day)
);
INSERT INTO status_uptime_days (component, day, passed, failed)
SELECT component, (check_time AT TIME ZONE 'UTC')::date,
       count(*) FILTER (WHERE outcome = 'PASSED'), count(*) FILTER (WHERE outcome = 'FAILED')
FROM status_checks
GROUP BY 1, 2;

GRANT SELECT, INSERT ON status_events TO vauchflow_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON status_subscriptions TO vauchflow_app;
GRANT SELECT, INSERT, DELETE ON status_notifications TO vauchflow_app;
GRANT SELECT, INSERT, UPDATE ON status_uptime_days TO vauchflow_app;

GRANT SELECT, UPDATE ON status_events TO vauchflow_delivery;
GRANT SELECT ON status_subscriptions TO vauchflow_delivery;
GRANT SELECT, INSERT, UPDATE ON status_notifications TO vauchflow_delivery;
