-- CSV exports and imports (DataExchangeService). Exports read in keyset pages, each its own short transaction,
-- so a slow download never holds a connection or a snapshot between pages.

-- name: export_redemptions_page
-- Walks redemptions_by_time from the last row sent. The bounds are always given (the first page starts after
-- (start, nil uuid), an open end is +infinity) so both are index conditions: a page starts where the last ended
-- instead of rescanning from the start, and the walk stops at the end time.
SELECT id, create_time, status, voucher_code, customer_id, order_id, order_amount, currency, discount_amount,
       rollback_time, rollback_reason, metadata
FROM redemptions
WHERE tenant_id = $1
  AND (create_time, id) > ($2::timestamptz, $3::uuid)
  AND create_time < $4
  AND ($5::text IS NULL OR status = $5)
  AND ($6::text IS NULL OR customer_id = $6)
ORDER BY create_time, id
LIMIT $7;

-- name: export_voucher_redemptions_page
-- The same for one voucher's redemptions, along redemptions_by_voucher.
SELECT id, create_time, status, voucher_code, customer_id, order_id, order_amount, currency, discount_amount,
       rollback_time, rollback_reason, metadata
FROM redemptions
WHERE tenant_id = $1 AND voucher_id = $8
  AND (create_time, id) > ($2::timestamptz, $3::uuid)
  AND create_time < $4
  AND ($5::text IS NULL OR status = $5)
  AND ($6::text IS NULL OR customer_id = $6)
ORDER BY create_time, id
LIMIT $7;

-- name: export_campaign_codes_page
-- Walks vouchers_by_campaign from the last row sent (the first page: after (-infinity, nil uuid)).
SELECT id, code, status, redemption_count, max_redemptions, create_time
FROM vouchers
WHERE tenant_id = $1 AND campaign_id = $2 AND (create_time, id) > ($3::timestamptz, $4::uuid)
ORDER BY create_time, id
LIMIT $5;

-- name: campaign_for_import
-- The campaign an import writes into. KEY SHARE only: a stronger lock held for the whole upload would make
-- every redeem of the campaign's codes that counts a campaign-wide limit (an UPDATE of this row) wait for it.
SELECT id FROM campaigns WHERE tenant_id = $1 AND id = $2 FOR KEY SHARE;

-- name: campaign_exists
SELECT EXISTS (SELECT 1 FROM campaigns WHERE tenant_id = $1 AND id = $2);

-- name: create_code_import_staging
-- PostgreSQL refuses COPY FROM into a table with row-level security, so an import copies into this table of its
-- own transaction (dropped at its end), then inserts from it.
CREATE TEMPORARY TABLE code_import_rows (row_number bigint NOT NULL, code text NOT NULL) ON COMMIT DROP;

-- name: analyze_code_import_staging
-- Autovacuum never analyses temporary tables; without statistics the checks below would be planned for a few rows.
ANALYZE code_import_rows;

-- name: refused_staged_codes
-- Rows the database refuses: a code on an earlier row of the file, or one the tenant already has (vouchers and
-- campaign codes share one namespace). The first $2 by row, each with the total.
WITH ranked AS (
    SELECT s.row_number, row_number() OVER (PARTITION BY s.code ORDER BY s.row_number) AS occurrence,
           EXISTS (SELECT 1 FROM vouchers AS v WHERE v.tenant_id = $1 AND v.code = s.code) AS taken
    FROM code_import_rows AS s
)
SELECT row_number, CASE WHEN occurrence > 1 THEN 'DUPLICATE_IN_FILE' ELSE 'CODE_TAKEN' END AS reason,
       count(*) OVER () AS total
FROM ranked
WHERE occurrence > 1 OR taken
ORDER BY row_number
LIMIT $2;

-- name: insert_imported_codes
-- Each new code once (its first row), in file order, with a copy of the campaign's terms as generated codes get
-- them (campaigns.sql, insert_staged_codes).
-- ON CONFLICT: a code another transaction took meanwhile is skipped, and the caller compares the count.
INSERT INTO vouchers (tenant_id, id, code, campaign_id, percent_off, amount_off, currency, max_redemptions,
                      valid_from, valid_until, min_order_amount, status)
SELECT c.tenant_id, uuidv7(), s.code, c.id, c.percent_off, c.amount_off, c.currency, c.code_redemption_limit,
       c.valid_from, c.valid_until, c.min_order_amount, 'ACTIVE'
FROM (SELECT DISTINCT ON (code) code, row_number FROM code_import_rows ORDER BY code, row_number) AS s
CROSS JOIN campaigns AS c
WHERE c.tenant_id = $1 AND c.id = $2
ORDER BY s.row_number
ON CONFLICT (tenant_id, code) DO NOTHING;
