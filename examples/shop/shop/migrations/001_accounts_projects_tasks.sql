-- The shop's core tables: what the PerfRun's synthetic dataset fills (accounts, their
-- projects, the projects' tasks). hits is the per-account counter row (the hot row).
CREATE TABLE accounts (
    id bigint PRIMARY KEY,
    email text UNIQUE,
    name text,
    state text,
    created_at timestamptz,
    run_id text,
    hits bigint NOT NULL DEFAULT 0
);
CREATE TABLE projects (
    id bigint PRIMARY KEY,
    account_id bigint NOT NULL REFERENCES accounts (id),
    name text,
    budget numeric(12, 2)
);
CREATE INDEX projects_account_id_idx ON projects (account_id, id);
CREATE TABLE tasks (
    id uuid PRIMARY KEY,
    project_id bigint NOT NULL REFERENCES projects (id),
    account_id bigint NOT NULL,
    priority int,
    done boolean
);
-- the keyset listing: WHERE account_id = $1 AND id > $cursor ORDER BY id
CREATE INDEX tasks_account_id_id_idx ON tasks (account_id, id);
