"""An incident's states and the steps between them: the one rule the API enforces and the operator pages offer."""

from __future__ import annotations

INVESTIGATING = "INVESTIGATING"
IDENTIFIED = "IDENTIFIED"
MONITORING = "MONITORING"
RESOLVED = "RESOLVED"
INCIDENT_STATES = (INVESTIGATING, IDENTIFIED, MONITORING, RESOLVED)


def allowed_next_states(state: str) -> tuple[str, ...]:
    """Investigating → Identified → (Monitoring) → Resolved; an update may also keep the state (the cadence update),
    and Monitoring may fall back to Identified when the fix did not hold. Resolved is final."""
    return {
        INVESTIGATING: (INVESTIGATING, IDENTIFIED, MONITORING, RESOLVED),
        IDENTIFIED: (IDENTIFIED, MONITORING, RESOLVED),
        MONITORING: (MONITORING, IDENTIFIED, RESOLVED),
        RESOLVED: (),
    }[state]
