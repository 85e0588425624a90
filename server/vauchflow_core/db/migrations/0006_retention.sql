-- Retention (issue 16, finding 9): the delivery service prunes, in small batches, what nobody needs any more:
-- idempotency keys after 24 hours (as Stripe keeps them), and outbox events with their deliveries and attempts
-- once they are older than the retention window, behind the relay and without a pending delivery.
CREATE INDEX idempotency_keys_by_time ON idempotency_keys (create_time);
CREATE INDEX outbox_events_by_time ON outbox_events (create_time);
-- The delivery role bypasses row-level security (it works across tenants) but holds only the grants it needs.
GRANT SELECT, DELETE ON idempotency_keys TO vauchflow_delivery;
GRANT DELETE ON outbox_events, webhook_deliveries, webhook_delivery_attempts TO vauchflow_delivery;
