-- Row level security on bilancio's own bookkeeping table too: Supabase's security advisor flags
-- any table in the public schema without it. The anon role may read which migrations are
-- applied; only the service role (and the owner running the migrations) may write.
ALTER TABLE bilancio_migrations ENABLE ROW LEVEL SECURITY;
GRANT SELECT ON bilancio_migrations TO anon;
GRANT ALL ON bilancio_migrations TO service_role;
DROP POLICY IF EXISTS bilancio_migrations_anon_read ON bilancio_migrations;
CREATE POLICY bilancio_migrations_anon_read ON bilancio_migrations FOR SELECT TO anon
    USING (true);
DROP POLICY IF EXISTS bilancio_migrations_service_all ON bilancio_migrations;
CREATE POLICY bilancio_migrations_service_all ON bilancio_migrations FOR ALL TO service_role
    USING (true) WITH CHECK (true);
