-- bilancio 0.2: trade and agent data for mechanism studies, written only by a sweep run with
-- record.trades=true. trades holds every trade of the job's active runs (trade_id =
-- run_id-seq), agent_outcomes every trader's default status and day in both regimes
-- (outcome_id = run_id-agent); the ids are the keys of every upsert. Additive only; running it
-- again changes nothing.
CREATE TABLE IF NOT EXISTS trades (
    id SERIAL PRIMARY KEY,
    trade_id TEXT NOT NULL UNIQUE,
    run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
    job_id TEXT NOT NULL REFERENCES jobs(job_id) ON DELETE CASCADE,
    job_num INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    day INTEGER NOT NULL,
    side TEXT NOT NULL CHECK (side IN ('sell', 'buy')),
    claim INTEGER NOT NULL,
    issuer TEXT NOT NULL,
    due_day INTEGER NOT NULL,
    seller TEXT NOT NULL,
    buyer TEXT NOT NULL,
    venue TEXT NOT NULL CHECK (venue IN ('dealer', 'vbt')),
    bucket TEXT NOT NULL,
    unit_price DOUBLE PRECISION NOT NULL,
    face DOUBLE PRECISION NOT NULL,
    cash DOUBLE PRECISION NOT NULL,
    default_prob DOUBLE PRECISION NOT NULL,
    threshold DOUBLE PRECISION,
    shortfall DOUBLE PRECISION,
    wealth DOUBLE PRECISION,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
CREATE INDEX IF NOT EXISTS idx_trades_job_id ON trades(job_id);
CREATE INDEX IF NOT EXISTS idx_trades_run_id ON trades(run_id);

CREATE TABLE IF NOT EXISTS agent_outcomes (
    id SERIAL PRIMARY KEY,
    outcome_id TEXT NOT NULL UNIQUE,
    run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
    job_id TEXT NOT NULL REFERENCES jobs(job_id) ON DELETE CASCADE,
    job_num INTEGER NOT NULL,
    regime TEXT NOT NULL,
    agent TEXT NOT NULL,
    defaulted BOOLEAN NOT NULL,
    default_day INTEGER,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
CREATE INDEX IF NOT EXISTS idx_agent_outcomes_job_id ON agent_outcomes(job_id);
CREATE INDEX IF NOT EXISTS idx_agent_outcomes_run_id ON agent_outcomes(run_id);

-- Row level security, as 004 gives every other table: anon reads, the service role writes.
ALTER TABLE trades ENABLE ROW LEVEL SECURITY;
GRANT SELECT ON trades TO anon;
GRANT ALL ON trades TO service_role;
DROP POLICY IF EXISTS trades_anon_read ON trades;
CREATE POLICY trades_anon_read ON trades FOR SELECT TO anon USING (true);
DROP POLICY IF EXISTS trades_service_all ON trades;
CREATE POLICY trades_service_all ON trades FOR ALL TO service_role
    USING (true) WITH CHECK (true);

ALTER TABLE agent_outcomes ENABLE ROW LEVEL SECURITY;
GRANT SELECT ON agent_outcomes TO anon;
GRANT ALL ON agent_outcomes TO service_role;
DROP POLICY IF EXISTS agent_outcomes_anon_read ON agent_outcomes;
CREATE POLICY agent_outcomes_anon_read ON agent_outcomes FOR SELECT TO anon USING (true);
DROP POLICY IF EXISTS agent_outcomes_service_all ON agent_outcomes;
CREATE POLICY agent_outcomes_service_all ON agent_outcomes FOR ALL TO service_role
    USING (true) WITH CHECK (true);
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO service_role;
