-- bilancio 0.2: what each sweep and run records for reproducibility (additive only).
ALTER TABLE jobs ADD COLUMN IF NOT EXISTS overrides JSONB;
ALTER TABLE jobs ADD COLUMN IF NOT EXISTS config JSONB;
ALTER TABLE jobs ADD COLUMN IF NOT EXISTS code_version TEXT;
ALTER TABLE runs ADD COLUMN IF NOT EXISTS job_num INTEGER;
ALTER TABLE runs ADD COLUMN IF NOT EXISTS config JSONB;
ALTER TABLE runs ADD COLUMN IF NOT EXISTS config_hash TEXT;

-- One metrics row per run. bilancio 0.1 could write duplicates; the older ones are moved to
-- metrics_superseded (nothing is deleted outright) before the unique key is added.
CREATE TABLE IF NOT EXISTS metrics_superseded (LIKE metrics INCLUDING DEFAULTS);
WITH ranked AS (
    SELECT id, ROW_NUMBER() OVER (PARTITION BY run_id ORDER BY created_at DESC, id DESC) AS rank
    FROM metrics WHERE run_id IS NOT NULL
), moved AS (
    DELETE FROM metrics m USING ranked r WHERE m.id = r.id AND r.rank > 1 RETURNING m.*
)
INSERT INTO metrics_superseded SELECT * FROM moved;
CREATE UNIQUE INDEX IF NOT EXISTS uq_metrics_run_id ON metrics(run_id);
