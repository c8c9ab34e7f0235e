-- bilancio 0.1's tables (jobs, runs, metrics, job_events), exactly as existing projects have them.
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    completed_at TIMESTAMPTZ,
    status TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'running', 'completed', 'failed')),
    description TEXT,
    sweep_type TEXT NOT NULL,
    n_agents INTEGER NOT NULL,
    maturity_days INTEGER NOT NULL DEFAULT 5,
    kappas NUMERIC[] NOT NULL,
    concentrations NUMERIC[] NOT NULL,
    mus NUMERIC[] NOT NULL,
    outside_mid_ratios NUMERIC[] DEFAULT '{1}',
    seeds INTEGER[] DEFAULT '{42}',
    cloud BOOLEAN DEFAULT FALSE,
    total_runs INTEGER,
    completed_runs INTEGER DEFAULT 0,
    failed_runs INTEGER DEFAULT 0,
    error TEXT,
    notes TEXT,
    modal_experiment_id TEXT
);
CREATE INDEX IF NOT EXISTS idx_jobs_status ON jobs(status);
CREATE INDEX IF NOT EXISTS idx_jobs_created_at ON jobs(created_at DESC);

CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    job_id TEXT REFERENCES jobs(job_id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    completed_at TIMESTAMPTZ,
    status TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'running', 'completed', 'failed')),
    kappa NUMERIC NOT NULL,
    concentration NUMERIC NOT NULL,
    mu NUMERIC NOT NULL,
    outside_mid_ratio NUMERIC DEFAULT 1,
    seed INTEGER DEFAULT 42,
    regime TEXT,
    execution_time_ms INTEGER,
    modal_call_id TEXT,
    error TEXT,
    modal_volume_path TEXT
);
CREATE INDEX IF NOT EXISTS idx_runs_job_id ON runs(job_id);
CREATE INDEX IF NOT EXISTS idx_runs_status ON runs(status);

CREATE TABLE IF NOT EXISTS metrics (
    id SERIAL PRIMARY KEY,
    run_id TEXT REFERENCES runs(run_id) ON DELETE CASCADE,
    job_id TEXT REFERENCES jobs(job_id) ON DELETE CASCADE,
    delta_total NUMERIC,
    phi_total NUMERIC,
    n_defaults INTEGER,
    n_clears INTEGER,
    time_to_stability INTEGER,
    trading_effect NUMERIC,
    total_trades INTEGER,
    total_trade_volume NUMERIC,
    raw_metrics JSONB,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
CREATE INDEX IF NOT EXISTS idx_metrics_job_id ON metrics(job_id);
CREATE INDEX IF NOT EXISTS idx_metrics_run_id ON metrics(run_id);
CREATE INDEX IF NOT EXISTS idx_metrics_delta ON metrics(delta_total);

CREATE TABLE IF NOT EXISTS job_events (
    id SERIAL PRIMARY KEY,
    job_id TEXT REFERENCES jobs(job_id) ON DELETE CASCADE,
    event_type TEXT NOT NULL,
    timestamp TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    details JSONB DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS idx_job_events_job_id ON job_events(job_id);
