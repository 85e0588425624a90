"""An asyncio checkout: twenty customers race for the last five units of a flash-sale voucher. Exactly five win;
the others get vauchflow.VoucherExhausted, which a checkout shows as "sold out".

Needs VAUCHFLOW_ADMIN_TOKEN and VAUCHFLOW_TARGET like getting_started.py.
"""

from __future__ import annotations

import asyncio

import vauchflow


async def checkout(client: vauchflow.AsyncClient, code: str, customer: int) -> str:
    try:
        await client.redemptions.redeem(code, customer_id=f"cus_{customer}", amount=8000, currency="EUR")
    except vauchflow.VoucherExhausted:
        return "sold out"
    return "redeemed"


async def main() -> None:
    async with vauchflow.AsyncOperatorClient() as operator:
        tenant = await operator.tenants.create("Flash Sale GmbH", plan="SCALE")
    async with vauchflow.AsyncClient(tenant.secret) as client:
        voucher = await client.vouchers.create(amount_off=1500, currency="EUR", max_redemptions=5, flash_sale=True)
        outcomes = await asyncio.gather(*(checkout(client, voucher.code, n) for n in range(20)))
        print("redeemed:", outcomes.count("redeemed"), "sold out:", outcomes.count("sold out"))
        count = len([r async for r in client.redemptions.list(voucher_code=voucher.code, page_size=2)])
        print("redemptions listed:", count)


if __name__ == "__main__":
    asyncio.run(main())
