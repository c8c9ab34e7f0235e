CREATE TABLE IF NOT EXISTS job_metrics (
    id SERIAL PRIMARY KEY,
    job_id TEXT NOT NULL REFERENCES jobs(job_id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ DEFAULT NOW(),
    n_comparisons INTEGER,
    n_pairs INTEGER,
    mean_trading_effect DOUBLE PRECISION,
    min_trading_effect DOUBLE PRECISION,
    max_trading_effect DOUBLE PRECISION,
    std_trading_effect DOUBLE PRECISION,
    positive_effects INTEGER,
    negative_effects INTEGER,
    neutral_effects INTEGER,
    mean_delta_passive DOUBLE PRECISION,
    mean_delta_active DOUBLE PRECISION,
    mean_phi_passive DOUBLE PRECISION,
    mean_phi_active DOUBLE PRECISION,
    raw_summary JSONB,
    UNIQUE(job_id)
);
CREATE INDEX IF NOT EXISTS idx_job_metrics_job_id ON job_metrics(job_id);
