"""The prober: synthetic checks of the six components the status page monitors, reported to the API's
StatusService and exported as Prometheus metrics (default port 9467)."""
