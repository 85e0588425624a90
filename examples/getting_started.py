"""Getting started: a tenant, a voucher, validate, redeem, a typed refusal, rollback, and the history.

Needs the operator token in VAUCHFLOW_ADMIN_TOKEN (`make run` writes it to .data/operator-token) and the stack at
VAUCHFLOW_TARGET (default: Envoy on 127.0.0.1:8080).
"""

from __future__ import annotations

import uuid

import vauchflow
from vauchflow.v1 import redemption_pb2


def main() -> None:
    with vauchflow.OperatorClient() as operator:
        # The tenant's first API key, with every permission; its secret is shown only in this response.
        tenant = operator.tenants.create("Acme Shoes", plan="STARTER", request_id=f"signup-{uuid.uuid4()}")
    with vauchflow.Client(tenant.secret) as client:
        me = client.whoami()
        print("tenant:", me.tenant.name, "plan:", vauchflow.Plan.Name(me.tenant.plan))

        voucher = client.vouchers.create(
            "WELCOME10",
            percent_off=10,
            currency="EUR",
            min_order_amount=2000,
            max_redemptions=100,
            per_customer_limit=1,
        )
        check = client.redemptions.validate("WELCOME10", customer_id="cus_42", amount=5000, currency="EUR")
        print("valid:", check.valid, "discount:", check.discount_amount)

        # A retry of this call (after a timeout, say) with the same request_id returns the same redemption.
        redeemed = client.redemptions.redeem(
            voucher.code,
            customer_id="cus_42",
            amount=5000,
            currency="EUR",
            order_id="order-1001",
            request_id="order-1001",
        )
        print("redeemed count:", redeemed.voucher.redemption_count)

        try:
            client.redemptions.redeem(voucher.code, customer_id="cus_42", amount=5000, currency="EUR")
        except vauchflow.CustomerLimitReached as refused:
            print("refused:", refused.reason, refused.http_status)

        rolled_back = client.redemptions.rollback(redeemed.redemption.id, reason="order cancelled")
        for redemption in client.redemptions.list(voucher_code=voucher.code):
            status = redemption_pb2.RedemptionStatus.Name(redemption.status)
            print("history:", redemption.id == rolled_back.id, status)


if __name__ == "__main__":
    main()
