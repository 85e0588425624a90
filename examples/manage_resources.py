"""Everyday management: who am I, keys with fewer permissions, walking every page of a list, webhook endpoints,
the event log, and reading a refusal of invalid input field by field.

Needs VAUCHFLOW_ADMIN_TOKEN and VAUCHFLOW_TARGET like getting_started.py.
"""

from __future__ import annotations

import vauchflow


def main() -> None:
    with vauchflow.OperatorClient() as operator:
        tenant = operator.tenants.create("Manage AG", plan="GROWTH")
    with vauchflow.Client(tenant.secret) as client:
        me = client.whoami()
        print("key:", me.api_key.name, "requests per second:", me.limits.requests_per_second)

        checkout_key = client.api_keys.create("checkout", permissions=["redemptions:read", "redemptions:write"])
        print("keys:", sorted(key.name for key in client.api_keys.list()))
        client.api_keys.revoke(checkout_key.api_key.id)

        for n in range(5):
            client.vouchers.create(f"SPRING-{n}", percent_off=5 * (n + 1))
        # Pages of two, fetched as the loop reaches them.
        print("vouchers:", [voucher.code for voucher in client.vouchers.list(page_size=2)])
        client.vouchers.update("SPRING-0", max_redemptions=10, metadata={"campaign": "spring"})
        client.vouchers.disable("SPRING-4")

        try:
            client.vouchers.create("not a valid code!", percent_off=150)
        except vauchflow.InvalidRequestError as invalid:
            print("invalid:", sorted(violation.field for violation in invalid.field_violations))

        endpoint = client.webhook_endpoints.create("http://127.0.0.1:9/webhooks", event_types=["voucher.created"])
        print("webhook secret shown once:", endpoint.secret.startswith("whsec_"))
        client.webhook_endpoints.update(endpoint.webhook_endpoint.id, description="orders service")
        print("event types:", sorted({event.type for event in client.events.list()}))
        client.webhook_endpoints.delete(endpoint.webhook_endpoint.id)


if __name__ == "__main__":
    main()
