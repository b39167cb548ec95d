-- Break-glass: a support engineer opens access at once, for an incident, without approval, for at
-- most 15 minutes; a support lead other than the requester reviews it afterwards. Until then it is
-- 'unreviewed'. An ordinary request has no review (NULL).
ALTER TABLE support_grants
  ADD COLUMN break_glass boolean NOT NULL DEFAULT false,
  ADD COLUMN review_status text CHECK (review_status IN ('unreviewed', 'reviewed')),
  ADD COLUMN review_outcome text CHECK (review_outcome IN ('justified', 'unjustified')),
  ADD COLUMN review_note text,
  ADD COLUMN reviewed_by text,
  ADD COLUMN reviewed_at timestamptz,
  ADD CONSTRAINT support_grants_break_glass_short CHECK (NOT break_glass OR duration_seconds <= 900),
  ADD CONSTRAINT support_grants_break_glass_reviewable CHECK (break_glass = (review_status IS NOT NULL)),
  ADD CONSTRAINT support_grants_review_complete CHECK ((review_status = 'reviewed') = (reviewed_by IS NOT NULL AND review_outcome IS NOT NULL AND reviewed_at IS NOT NULL)),
  -- Nobody reviews their own break-glass, whatever roles they hold.
  ADD CONSTRAINT support_grants_not_self_reviewed CHECK (reviewed_by IS DISTINCT FROM requester);
