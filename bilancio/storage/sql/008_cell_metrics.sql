-- bilancio 0.2: the statistics of every cell of a job (MODEL.md §6 "Cell statistics"), written
-- beside job_metrics by the post-sweep callback and by Modal's compute_aggregate_metrics. A
-- cell is a distinct combination of every model parameter but seed; cell_key (16 hex digits of
-- SHA-256 over its normalised parameters) is the same for the same cell in any job, cell_id
-- (job_id-cell_key) is the key of every upsert. Additive only; running it again changes nothing.
CREATE TABLE IF NOT EXISTS cell_metrics (
    id SERIAL PRIMARY KEY,
    cell_id TEXT NOT NULL UNIQUE,
    job_id TEXT NOT NULL REFERENCES jobs(job_id) ON DELETE CASCADE,
    cell_key TEXT NOT NULL,
    params JSONB,
    kappa NUMERIC,
    concentration NUMERIC,
    mu NUMERIC,
    outside_mid_ratio NUMERIC,
    seeds JSONB,
    n_pairs INTEGER,
    n INTEGER,
    mean_effect DOUBLE PRECISION,
    sd_effect DOUBLE PRECISION,
    se_effect DOUBLE PRECISION,
    ci95_low DOUBLE PRECISION,
    ci95_high DOUBLE PRECISION,
    p_ttest DOUBLE PRECISION,
    p_wilcoxon DOUBLE PRECISION,
    positive_effects INTEGER,
    negative_effects INTEGER,
    neutral_effects INTEGER,
    mean_delta_passive DOUBLE PRECISION,
    mean_delta_active DOUBLE PRECISION,
    mean_delta_ring_passive DOUBLE PRECISION,
    mean_delta_ring_active DOUBLE PRECISION,
    mean_n_trades DOUBLE PRECISION,
    mean_n_sells DOUBLE PRECISION,
    mean_n_buys DOUBLE PRECISION,
    mean_n_interior DOUBLE PRECISION,
    mean_n_passthrough DOUBLE PRECISION,
    mean_n_rejected_sells DOUBLE PRECISION,
    mean_n_rejected_buys DOUBLE PRECISION,
    mean_n_unfilled_sells DOUBLE PRECISION,
    mean_trade_volume_face DOUBLE PRECISION,
    mean_trade_volume_cash DOUBLE PRECISION,
    mean_dealer_pnl DOUBLE PRECISION,
    mean_vbt_pnl DOUBLE PRECISION,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
CREATE INDEX IF NOT EXISTS idx_cell_metrics_job_id ON cell_metrics(job_id);

-- Row level security, as 004 gives every other table: anon reads, the service role writes.
ALTER TABLE cell_metrics ENABLE ROW LEVEL SECURITY;
GRANT SELECT ON cell_metrics TO anon;
GRANT ALL ON cell_metrics TO service_role;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO service_role;
DROP POLICY IF EXISTS cell_metrics_anon_read ON cell_metrics;
CREATE POLICY cell_metrics_anon_read ON cell_metrics FOR SELECT TO anon USING (true);
DROP POLICY IF EXISTS cell_metrics_service_all ON cell_metrics;
CREATE POLICY cell_metrics_service_all ON cell_metrics FOR ALL TO service_role
    USING (true) WITH CHECK (true);
