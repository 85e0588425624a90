-- Outbox inserts no longer NOTIFY. PostgreSQL serialises the commits of every transaction that sent a NOTIFY
-- (one lock on the notification queue, held until the commit is flushed), so a NOTIFY in every redemption
-- capped all redemptions at one commit at a time: pgbench on the redemption SQL ran at half the rate without it.
-- The relay now polls the outbox with a cheap read-only query (VAUCHFLOW_DELIVERY_OUTBOX_POLL_SECONDS) and
-- announces what it relayed on vauchflow_events_relayed, which wakes the event streams.
DROP TRIGGER outbox_events_notify ON outbox_events;
DROP FUNCTION notify_outbox();
