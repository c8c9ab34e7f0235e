-- bilancio's tables in SQLite: the columns of sql/ (PostgreSQL) with SQLite types.
-- Arrays and JSON are stored as JSON text; timestamps as ISO 8601 UTC text.
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    completed_at TEXT,
    status TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'running', 'completed', 'failed')),
    description TEXT,
    sweep_type TEXT NOT NULL,
    n_agents INTEGER NOT NULL,
    maturity_days INTEGER NOT NULL DEFAULT 5,
    kappas TEXT NOT NULL,
    concentrations TEXT NOT NULL,
    mus TEXT NOT NULL,
    outside_mid_ratios TEXT DEFAULT '[1]',
    seeds TEXT DEFAULT '[42]',
    cloud INTEGER DEFAULT 0,
    total_runs INTEGER,
    completed_runs INTEGER DEFAULT 0,
    failed_runs INTEGER DEFAULT 0,
    error TEXT,
    notes TEXT,
    modal_experiment_id TEXT,
    overrides TEXT,
    config TEXT,
    code_version TEXT,
    reused_runs INTEGER DEFAULT 0,
    lease_owner TEXT,
    lease_expires_at TEXT
);
CREATE INDEX IF NOT EXISTS idx_jobs_status ON jobs(status);
CREATE INDEX IF NOT EXISTS idx_jobs_created_at ON jobs(created_at DESC);

CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    job_id TEXT REFERENCES jobs(job_id) ON DELETE CASCADE,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    completed_at TEXT,
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
    modal_volume_path TEXT,
    job_num INTEGER,
    config TEXT,
    config_hash TEXT
);
CREATE INDEX IF NOT EXISTS idx_runs_job_id ON runs(job_id);
CREATE INDEX IF NOT EXISTS idx_runs_status ON runs(status);

CREATE TABLE IF NOT EXISTS metrics (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
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
    raw_metrics TEXT,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX IF NOT EXISTS idx_metrics_job_id ON metrics(job_id);
CREATE UNIQUE INDEX IF NOT EXISTS idx_metrics_run_id ON metrics(run_id);
CREATE INDEX IF NOT EXISTS idx_metrics_delta ON metrics(delta_total);

CREATE TABLE IF NOT EXISTS job_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id TEXT REFERENCES jobs(job_id) ON DELETE CASCADE,
    event_type TEXT NOT NULL,
    timestamp TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    details TEXT DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS idx_job_events_job_id ON job_events(job_id);

CREATE TABLE IF NOT EXISTS job_metrics (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id TEXT NOT NULL REFERENCES jobs(job_id) ON DELETE CASCADE,
    created_at TEXT DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    n_comparisons INTEGER,
    n_pairs INTEGER,
    mean_trading_effect REAL,
    min_trading_effect REAL,
    max_trading_effect REAL,
    std_trading_effect REAL,
    positive_effects INTEGER,
    negative_effects INTEGER,
    neutral_effects INTEGER,
    mean_delta_passive REAL,
    mean_delta_active REAL,
    mean_phi_passive REAL,
    mean_phi_active REAL,
    raw_summary TEXT,
    UNIQUE(job_id)
);
CREATE INDEX IF NOT EXISTS idx_job_metrics_job_id ON job_metrics(job_id);

-- One row per job and cell (MODEL.md §6 "Cell statistics"): a cell is every model parameter
-- but seed; cell_key is the same for the same parameters in any job.
CREATE TABLE IF NOT EXISTS cell_metrics (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    cell_id TEXT NOT NULL,
    job_id TEXT NOT NULL REFERENCES jobs(job_id) ON DELETE CASCADE,
    cell_key TEXT NOT NULL,
    params TEXT,
    kappa NUMERIC,
    concentration NUMERIC,
    mu NUMERIC,
    outside_mid_ratio NUMERIC,
    seeds TEXT,
    n_pairs INTEGER,
    n INTEGER,
    mean_effect REAL,
    sd_effect REAL,
    se_effect REAL,
    ci95_low REAL,
    ci95_high REAL,
    p_ttest REAL,
    p_wilcoxon REAL,
    positive_effects INTEGER,
    negative_effects INTEGER,
    neutral_effects INTEGER,
    mean_delta_passive REAL,
    mean_delta_active REAL,
    mean_delta_ring_passive REAL,
    mean_delta_ring_active REAL,
    mean_n_trades REAL,
    mean_n_sells REAL,
    mean_n_buys REAL,
    mean_n_interior REAL,
    mean_n_passthrough REAL,
    mean_n_rejected_sells REAL,
    mean_n_rejected_buys REAL,
    mean_n_unfilled_sells REAL,
    mean_trade_volume_face REAL,
    mean_trade_volume_cash REAL,
    mean_dealer_pnl REAL,
    mean_vbt_pnl REAL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE UNIQUE INDEX IF NOT EXISTS idx_cell_metrics_cell_id ON cell_metrics(cell_id);
CREATE INDEX IF NOT EXISTS idx_cell_metrics_job_id ON cell_metrics(job_id);

-- Written only by a sweep with record.trades=true: every trade of its active runs, and every
-- trader's default status and day in both regimes (sql/009).
CREATE TABLE IF NOT EXISTS trades (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    trade_id TEXT NOT NULL,
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
    unit_price REAL NOT NULL,
    face REAL NOT NULL,
    cash REAL NOT NULL,
    default_prob REAL NOT NULL,
    threshold REAL,
    shortfall REAL,
    wealth REAL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE UNIQUE INDEX IF NOT EXISTS idx_trades_trade_id ON trades(trade_id);
CREATE INDEX IF NOT EXISTS idx_trades_job_id ON trades(job_id);
CREATE INDEX IF NOT EXISTS idx_trades_run_id ON trades(run_id);

CREATE TABLE IF NOT EXISTS agent_outcomes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    outcome_id TEXT NOT NULL,
    run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
    job_id TEXT NOT NULL REFERENCES jobs(job_id) ON DELETE CASCADE,
    job_num INTEGER NOT NULL,
    regime TEXT NOT NULL,
    agent TEXT NOT NULL,
    defaulted INTEGER NOT NULL,
    default_day INTEGER,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE UNIQUE INDEX IF NOT EXISTS idx_agent_outcomes_outcome_id ON agent_outcomes(outcome_id);
CREATE INDEX IF NOT EXISTS idx_agent_outcomes_job_id ON agent_outcomes(job_id);
CREATE INDEX IF NOT EXISTS idx_agent_outcomes_run_id ON agent_outcomes(run_id);
