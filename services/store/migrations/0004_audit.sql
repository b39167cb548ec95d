-- The audit trail: who did what, when, with what outcome. Append-only: the database itself
-- refuses to change or delete a record, whatever code asks it to.
CREATE TABLE audit_records (
  position    bigserial PRIMARY KEY,
  at          timestamptz NOT NULL,
  actor       text NOT NULL,
  key_thumbprint text,
  action      text NOT NULL,
  outcome     text NOT NULL,
  target      text,
  request_id  text,
  trace_id    text,
  detail      text
);

CREATE FUNCTION audit_records_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit records are append-only';
END $$;

CREATE TRIGGER audit_records_append_only BEFORE UPDATE OR DELETE ON audit_records
  FOR EACH ROW EXECUTE FUNCTION audit_records_append_only();
