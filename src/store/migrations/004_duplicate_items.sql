-- Duplicate Items (issue 15): before a public token is exchanged, Link's metadata for it
-- (institution, accounts' names and masks) is compared with the client user's Items, and with
-- the other public tokens of that user being exchanged. The check runs under a per-user advisory
-- lock; what it decided is recorded on the token's exchange intent, so every retry and every
-- worker returns the same answer.
--
-- client_user_id, link_metadata: the token's owner and Link's metadata ({institution, accounts}),
--   written when the check lets the token through: from then on a concurrent check of the same
--   user compares with it (and waits for its exchange to settle).
-- dup_checked_at: when the check let it through (null: not checked, or checked before 004).
-- duplicate_of: the Item this one duplicates: state 'duplicate' (LINKFLOW_DUPLICATE_ITEMS=skip,
--   never exchanged; `error` holds the recorded answer) or 'exchanged' (keep).
-- replaces: the older Item of the same login that the OAuth institution invalidated when this one
--   was added; marked ITEM_REPLACED (status 'error', never deleted) when this one is exchanged.
ALTER TABLE exchange_intents DROP CONSTRAINT exchange_intents_state_check;
ALTER TABLE exchange_intents ADD CONSTRAINT exchange_intents_state_check
  CHECK (state IN ('pending', 'exchanged', 'failed', 'unknown', 'duplicate'));
ALTER TABLE exchange_intents
  ADD COLUMN client_user_id text,
  ADD COLUMN link_metadata  jsonb,
  ADD COLUMN dup_checked_at timestamptz,
  ADD COLUMN duplicate_of   text,
  ADD COLUMN replaces       text;
ALTER TABLE exchange_intents ADD CONSTRAINT exchange_intents_duplicate_has_original
  CHECK (state <> 'duplicate' OR duplicate_of IS NOT NULL);
CREATE INDEX exchange_intents_client_user_idx ON exchange_intents (client_user_id)
  WHERE client_user_id IS NOT NULL;
