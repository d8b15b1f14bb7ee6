-- Orders: written as 'queued' by the API (which answers 202), completed by the worker.
CREATE TABLE orders (
    id uuid PRIMARY KEY,
    account_id bigint NOT NULL,
    sku text NOT NULL,
    quantity int NOT NULL CHECK (quantity > 0),
    state text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'done')),
    created_at timestamptz NOT NULL DEFAULT now(),
    completed_at timestamptz
);
CREATE INDEX orders_account_id_idx ON orders (account_id, created_at);
