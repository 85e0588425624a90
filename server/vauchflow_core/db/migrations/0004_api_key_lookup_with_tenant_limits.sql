-- authenticate_api_key() also answers with the key's tenant's plan and limit overrides, so the API key cache
-- carries what the rate limiter needs and a request costs no extra database round trip.
--
-- Still the one SECURITY DEFINER function and the one narrow path across tenants: it returns one key (by the hash
-- of its secret) and that key's own tenant's plan columns, nothing else. A changed return type can't be
-- CREATE OR REPLACEd, so the function is dropped and created again, with its grants.

DROP FUNCTION authenticate_api_key(bytea);

CREATE FUNCTION authenticate_api_key(p_secret_hash bytea)
    RETURNS TABLE (
        key_id uuid,
        tenant_id uuid,
        permissions text[],
        revoked boolean,
        plan text,
        requests_per_second integer,
        burst integer,
        max_vouchers bigint,
        max_webhook_endpoints integer
    )
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, public
AS $$
    SELECT k.id, k.tenant_id, k.permissions, k.revoke_time IS NOT NULL,
           t.plan, t.requests_per_second, t.burst, t.max_vouchers, t.max_webhook_endpoints
    FROM public.api_keys AS k
    JOIN public.tenants AS t ON t.id = k.tenant_id
    WHERE k.secret_hash = p_secret_hash
$$;
REVOKE ALL ON FUNCTION authenticate_api_key(bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION authenticate_api_key(bytea) TO vauchflow_app;
