-- Flash-sale vouchers (a Redis pre-gate in front of the atomic UPDATE) and per-tenant limit overrides.

ALTER TABLE vouchers ADD COLUMN flash_sale boolean NOT NULL DEFAULT false;
-- A flash sale needs a stock to count down.
ALTER TABLE vouchers ADD CONSTRAINT flash_sale_has_stock CHECK (NOT flash_sale OR max_redemptions IS NOT NULL);

-- NULL: the plan's default (see plans.py).
ALTER TABLE tenants ADD COLUMN requests_per_second integer CHECK (requests_per_second > 0);
ALTER TABLE tenants ADD COLUMN burst integer CHECK (burst > 0);
ALTER TABLE tenants ADD COLUMN max_vouchers bigint CHECK (max_vouchers >= 0);
ALTER TABLE tenants ADD COLUMN max_webhook_endpoints integer CHECK (max_webhook_endpoints >= 0);

-- The 24-hour delivery-ratio metric of the delivery service scans deliveries by creation time.
CREATE INDEX webhook_deliveries_by_time ON webhook_deliveries (create_time);
