-- The exchange fence (issue 13): at most one attempt per public token talks to Plaid at a time,
-- and a request whose answer was lost is remembered until a later answer settles it.
--
-- lease_*: the attempt allowed to call Plaid (owner = Temporal activity attempt), until when
--   (refreshed while it works), and a generation bumped by every new holder: writes of a holder
--   carry its generation, so a stale holder's writes match no row.
-- call_*: a request to Plaid is (or may be) in flight: set before sending, cleared when its end
--   is recorded. Found set by a later holder, the earlier request's outcome is unknown.
-- in_doubt_*: a request that may have reached Plaid and whose answer never came. From then on
--   only a success proves what happened; any other answer makes the outcome 'unknown'.
ALTER TABLE exchange_intents DROP CONSTRAINT exchange_intents_state_check;
ALTER TABLE exchange_intents ADD CONSTRAINT exchange_intents_state_check
  CHECK (state IN ('pending', 'exchanged', 'failed', 'unknown'));
ALTER TABLE exchange_intents
  ADD COLUMN lease_owner      text,
  ADD COLUMN lease_generation bigint NOT NULL DEFAULT 0,
  ADD COLUMN lease_expires_at timestamptz,
  ADD COLUMN call_owner       text,
  ADD COLUMN call_started_at  timestamptz,
  ADD COLUMN in_doubt_since   timestamptz,
  ADD COLUMN in_doubt_reason  text;

-- /processor/token/create, once per Link session: Plaid mints a new processor token on every
-- call, so a retry after a lost answer would leave a second live token at the processor.
CREATE TABLE processor_token_intents (
  link_token       text PRIMARY KEY,
  item_id          text NOT NULL,
  account_id       text NOT NULL,
  processor        text NOT NULL,
  state            text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'created', 'failed', 'unknown')),
  error            jsonb,
  attempts         integer NOT NULL DEFAULT 0,
  lease_owner      text,
  lease_generation bigint NOT NULL DEFAULT 0,
  lease_expires_at timestamptz,
  call_owner       text,
  call_started_at  timestamptz,
  in_doubt_since   timestamptz,
  in_doubt_reason  text,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX processor_token_intents_unknown_idx ON processor_token_intents (state) WHERE state = 'unknown';
CREATE INDEX exchange_intents_unknown_idx ON exchange_intents (state) WHERE state = 'unknown';
