-- bilancio 0.2: who is running a job (a lease renewed by the running sweep's heartbeat), so
-- that a second process cannot resume a job that is still running (additive only).
ALTER TABLE jobs ADD COLUMN IF NOT EXISTS lease_owner TEXT;
ALTER TABLE jobs ADD COLUMN IF NOT EXISTS lease_expires_at TIMESTAMPTZ;

-- Seeds are integers in [0, 2^63 - 1] (MODEL.md §1): widen the 32-bit columns of the initial
-- schema. Widening keeps every value and every query working; running it again changes nothing.
ALTER TABLE runs ALTER COLUMN seed TYPE BIGINT;
ALTER TABLE jobs ALTER COLUMN seeds TYPE BIGINT[];
