-- Row level security on every table: the anon role may read, writes need the service role.
-- On Supabase the roles exist; on a plain PostgreSQL they are created here (without login).
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'anon') THEN
        CREATE ROLE anon NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'service_role') THEN
        CREATE ROLE service_role NOLOGIN BYPASSRLS;
    END IF;
END
$$;

DO $$
DECLARE
    t TEXT;
BEGIN
    FOREACH t IN ARRAY ARRAY['jobs', 'runs', 'metrics', 'job_events', 'job_metrics',
                             'metrics_superseded']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('GRANT SELECT ON %I TO anon', t);
        EXECUTE format('GRANT ALL ON %I TO service_role', t);
        EXECUTE format('DROP POLICY IF EXISTS %I ON %I', t || '_anon_read', t);
        EXECUTE format('CREATE POLICY %I ON %I FOR SELECT TO anon USING (true)',
                       t || '_anon_read', t);
        EXECUTE format('DROP POLICY IF EXISTS %I ON %I', t || '_service_all', t);
        EXECUTE format('CREATE POLICY %I ON %I FOR ALL TO service_role USING (true) '
                       'WITH CHECK (true)', t || '_service_all', t);
    END LOOP;
END
$$;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO service_role;
