-- The audit trail becomes a hash chain: each record carries the hash of the one before it and its
-- own hash over a canonical encoding of its fields (defined in packages/platform/audit-chain.ts),
-- so that changing, removing or reordering a stored record is detectable (`poc audit verify`).
ALTER TABLE audit_records ADD COLUMN previous_hash text, ADD COLUMN hash text;

-- The chain's head: the last record's position and hash. Appends lock this row for the rest of
-- their transaction, so two appends can never both follow the same record; positions are assigned
-- under that lock, one after the head.
CREATE TABLE audit_chain_head (
  chain    text PRIMARY KEY CHECK (chain = 'audit'),
  position bigint NOT NULL,
  hash     text NOT NULL
);

-- The records written before the chain existed are chained here, oldest first, from the genesis
-- hash (64 zeros), with the same encoding the store uses for new records.
ALTER TABLE audit_records DISABLE TRIGGER audit_records_append_only;
DO $$
DECLARE
  r audit_records%ROWTYPE;
  previous text := repeat('0', 64);
  last_position bigint := 0;
  encoded text;
BEGIN
  FOR r IN SELECT * FROM audit_records ORDER BY position LOOP
    encoded := 'msa-poc audit v1' || chr(10) || (
      SELECT string_agg(CASE WHEN v IS NULL THEN '-' ELSE octet_length(convert_to(v, 'UTF8')) || ':' || v END || chr(10), '' ORDER BY i)
      FROM unnest(ARRAY[
        r.position::text, to_char(r.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), r.actor, r.key_thumbprint, r.action, r.outcome,
        r.target, r.request_id, r.trace_id, r.detail, previous
      ]) WITH ORDINALITY AS f(v, i)
    );
    UPDATE audit_records SET previous_hash = previous, hash = encode(sha256(convert_to(encoded, 'UTF8')), 'hex') WHERE position = r.position
      RETURNING hash INTO previous;
    last_position := r.position;
  END LOOP;
  INSERT INTO audit_chain_head (chain, position, hash) VALUES ('audit', last_position, previous);
END $$;
ALTER TABLE audit_records ENABLE TRIGGER audit_records_append_only;

ALTER TABLE audit_records ALTER COLUMN previous_hash SET NOT NULL, ALTER COLUMN hash SET NOT NULL;
-- Positions come from the head, under its lock, not from a sequence that a rolled-back append would skip.
ALTER TABLE audit_records ALTER COLUMN position DROP DEFAULT;
DROP SEQUENCE audit_records_position_seq;
