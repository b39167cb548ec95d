-- Support access: roles of API clients, access requests and the grants they become, and the
-- row-level security that confines a support read to one customer's rows.

ALTER TABLE api_clients ADD COLUMN roles text[] NOT NULL DEFAULT '{}'
  CHECK (roles <@ ARRAY['support', 'support-lead']::text[]);

-- A request is a grant waiting for its decision: approved, it is live until expires_at or until revoked.
CREATE TABLE support_grants (
  id               uuid PRIMARY KEY,
  requester        text NOT NULL,
  customer_id      text NOT NULL,
  ticket_id        text NOT NULL,
  reason           text NOT NULL,
  actions          text[] NOT NULL CHECK (cardinality(actions) >= 1),
  duration_seconds integer NOT NULL CHECK (duration_seconds BETWEEN 1 AND 3600),
  status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'rejected', 'revoked')),
  requested_at     timestamptz NOT NULL,
  decided_by       text,
  decided_at       timestamptz,
  expires_at       timestamptz,
  revoked_by       text,
  revoked_at       timestamptz,
  -- Nobody decides their own request, whatever roles they hold.
  CONSTRAINT support_grants_not_self_decided CHECK (decided_by IS DISTINCT FROM requester),
  CONSTRAINT support_grants_approved_expire CHECK (status <> 'approved' OR expires_at IS NOT NULL)
);
CREATE INDEX support_grants_recent ON support_grants (requested_at DESC, id DESC);

-- The role a support read runs as: it can log in nowhere, is no superuser (superusers bypass row
-- security), and may only read orders and their lines. Roles belong to the whole cluster, so stores
-- in several schemas or databases share it; two creating it at once is not an error, and where an
-- administrator created it beforehand the store's user needs no CREATEROLE.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'msa_poc_support_reader') THEN
    CREATE ROLE msa_poc_support_reader NOLOGIN NOSUPERUSER NOBYPASSRLS;
  END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END $$;
DO $$
BEGIN
  IF NOT pg_has_role(current_user, 'msa_poc_support_reader', 'MEMBER') THEN
    EXECUTE format('GRANT msa_poc_support_reader TO %I', current_user);
  END IF;
  EXECUTE format('GRANT USAGE ON SCHEMA %I TO msa_poc_support_reader', current_schema());
END $$;
GRANT SELECT ON orders, order_lines TO msa_poc_support_reader;

-- Every role sees every row, as before, except the support reader: a restrictive policy also
-- requires the row to belong to the customer the transaction was scoped to (SET LOCAL
-- msa_poc.customer_id). Unset, the setting is NULL and matches nothing: a forgotten scope reads nothing.
-- FORCE makes the policies bind the tables' owner too.
ALTER TABLE orders ENABLE ROW LEVEL SECURITY;
ALTER TABLE orders FORCE ROW LEVEL SECURITY;
CREATE POLICY orders_store ON orders USING (true) WITH CHECK (true);
CREATE POLICY orders_support_customer ON orders AS RESTRICTIVE TO msa_poc_support_reader
  USING (customer_id = current_setting('msa_poc.customer_id', true));

ALTER TABLE order_lines ENABLE ROW LEVEL SECURITY;
ALTER TABLE order_lines FORCE ROW LEVEL SECURITY;
CREATE POLICY order_lines_store ON order_lines USING (true) WITH CHECK (true);
CREATE POLICY order_lines_support_customer ON order_lines AS RESTRICTIVE TO msa_poc_support_reader
  USING (EXISTS (SELECT 1 FROM orders o WHERE o.id = order_lines.order_id));
