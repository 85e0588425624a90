-- Lists you can search (issue 17): every filter of ListVouchers and ListRedemptions has an index, so a filtered
-- page on a tenant with millions of rows reads only what it shows. Keyset pages walk (create_time, id) in either
-- direction, so the filter's column comes first and the page order after it.
CREATE INDEX vouchers_by_status ON vouchers (tenant_id, status, create_time, id);
-- Code prefixes are compared byte-wise (codes are upper-case ASCII), whatever the database's default collation.
CREATE INDEX vouchers_by_code_prefix ON vouchers (tenant_id, code COLLATE "C");
-- Metadata key/value pairs. Row-level security evaluates a query's own conditions after the tenant policy unless
-- they are leakproof, and no containment operator is (jsonb @> or array @>): under the policy no GIN index can serve
-- them. So the pairs are looked up by vouchers_with_metadata, SECURITY DEFINER like authenticate_api_key (the owner
-- bypasses RLS), which confines itself to the transaction's tenant, and the list joins its ids back under the
-- policy. The index holds "<tenant>/<key length>:<key>=<value>" per pair (unambiguous whatever the key holds, and
-- one tenant's common pair costs another tenant nothing); ANALYZE keeps element statistics for an indexed array
-- expression, so the planner knows how rare a pair is (it has none for jsonb containment and guesses 1%).
CREATE FUNCTION voucher_metadata_pair(tenant_id uuid, key text, value text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN tenant_id::text || '/' || length(key) || ':' || key || '=' || value;
CREATE FUNCTION voucher_metadata_pairs(tenant_id uuid, metadata jsonb) RETURNS text[]
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN ARRAY(SELECT voucher_metadata_pair(tenant_id, key, value) FROM jsonb_each_text(metadata));
CREATE INDEX vouchers_by_metadata ON vouchers USING gin (voucher_metadata_pairs(tenant_id, metadata));

CREATE FUNCTION vouchers_with_metadata(p_key text, p_value text) RETURNS SETOF uuid
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, public
    ROWS 100
AS $$
    SELECT v.id FROM public.vouchers AS v
    WHERE public.voucher_metadata_pairs(v.tenant_id, v.metadata)
          @> ARRAY[public.voucher_metadata_pair(nullif(current_setting('app.tenant_id', true), '')::uuid, p_key, p_value)]
      AND v.tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid
$$;
REVOKE ALL ON FUNCTION vouchers_with_metadata(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vouchers_with_metadata(text, text) TO vauchflow_app;

CREATE INDEX vouchers_by_time ON vouchers (tenant_id, create_time, id);
CREATE INDEX redemptions_by_customer ON redemptions (tenant_id, customer_id, create_time, id);
CREATE INDEX redemptions_by_status ON redemptions (tenant_id, status, create_time, id);
-- The usage summary (GetUsageSummary): rollbacks and webhook deliveries of the last 24 hours.
CREATE INDEX redemptions_by_rollback_time ON redemptions (tenant_id, rollback_time) WHERE rollback_time IS NOT NULL;
CREATE INDEX webhook_deliveries_by_tenant_time ON webhook_deliveries (tenant_id, create_time);
