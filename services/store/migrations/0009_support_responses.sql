-- Every response served under a support grant, exactly as served (masked), beside the audit record
-- of it: the grant's log replays these. Written in the transaction that appends that record, and as
-- append-only as the audit trail itself.
CREATE TABLE support_responses (
  audit_position bigint PRIMARY KEY REFERENCES audit_records (position),
  grant_id       uuid NOT NULL REFERENCES support_grants (id),
  served_at      timestamptz NOT NULL,
  route          text NOT NULL,
  status         integer NOT NULL,
  body           text NOT NULL
);
CREATE INDEX support_responses_by_grant ON support_responses (grant_id, audit_position);

CREATE TRIGGER support_responses_append_only BEFORE UPDATE OR DELETE ON support_responses
  FOR EACH ROW EXECUTE FUNCTION audit_records_append_only();
