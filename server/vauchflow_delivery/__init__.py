"""The webhook delivery service: relays the outbox into deliveries, delivers them signed with retries, and
streams events to internal subscribers. Runs as its own process: `python -m vauchflow_delivery`."""
