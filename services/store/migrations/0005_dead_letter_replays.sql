-- A dead letter is replayed at most once: the replay marks it with when, by whom, and the id of the
-- event that went out again. All three are set together or not at all.
ALTER TABLE dead_letters
  ADD COLUMN replayed_at     timestamptz,
  ADD COLUMN replayed_by     text,
  ADD COLUMN replay_event_id uuid,
  ADD CONSTRAINT dead_letters_replay_complete
    CHECK ((replayed_at IS NULL) = (replayed_by IS NULL) AND (replayed_at IS NULL) = (replay_event_id IS NULL));
-- listDeadLetterReplays: latest first, over replayed rows only.
CREATE INDEX dead_letters_replayed ON dead_letters (replayed_at DESC, id DESC) WHERE replayed_at IS NOT NULL;
