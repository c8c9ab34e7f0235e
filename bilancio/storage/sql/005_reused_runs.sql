-- bilancio 0.2: how many of a job's runs were reused from earlier jobs (job.skip_completed).
ALTER TABLE jobs ADD COLUMN IF NOT EXISTS reused_runs INTEGER DEFAULT 0;
