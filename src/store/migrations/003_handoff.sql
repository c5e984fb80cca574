-- The hand-off of linked Items (issue 14): Items can be removed (their secrets destroyed, not
-- flagged), the payment step's full credentials are kept encrypted, secret reads are audited in
-- an append-only table, and outbound event deliveries are counted.

-- A removed Item keeps its row (ids, institution, accounts, when) but no access token: the
-- ciphertext is deleted, so neither a key rotation nor a backup of the row can bring it back.
ALTER TABLE items ALTER COLUMN access_token_enc DROP NOT NULL;
ALTER TABLE items ALTER COLUMN key_id DROP NOT NULL;
ALTER TABLE items ADD COLUMN error jsonb;
ALTER TABLE items ADD COLUMN removed_at timestamptz;
ALTER TABLE items ADD CONSTRAINT items_removed_has_no_token
  CHECK ((status = 'removed') = (access_token_enc IS NULL AND removed_at IS NOT NULL));
ALTER TABLE items ADD CONSTRAINT items_token_has_key CHECK ((access_token_enc IS NULL) = (key_id IS NULL));

-- What the payment step produced, in full: ACH numbers (auth) or the transfer authorization, as
-- one envelope whose AAD names the row (`payment_credentials.secret:<link_token>`). The processor
-- token stays in payment_setups.processor_token_enc.
CREATE TABLE payment_credentials (
  link_token  text PRIMARY KEY REFERENCES payment_setups (link_token),
  item_id     text NOT NULL REFERENCES items (item_id),
  secret_enc  text NOT NULL CHECK (secret_enc LIKE 'v1:%'),
  key_id      text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX payment_credentials_item_idx ON payment_credentials (item_id);

-- Every read of a secret through the secrets key. Append-only: UPDATE and DELETE are refused.
CREATE TABLE secret_reads (
  id          bigserial PRIMARY KEY,
  at          timestamptz NOT NULL DEFAULT now(),
  -- A fingerprint of the bearer key (first 16 hex of its SHA-256), never the key.
  key_id      text NOT NULL,
  route       text NOT NULL,
  item_id     text,
  session_id  text,
  request_id  text NOT NULL,
  remote      text
);
CREATE INDEX secret_reads_at_idx ON secret_reads (at);

CREATE FUNCTION secret_reads_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'secret_reads is append-only (% refused)', TG_OP;
END;
$$;
CREATE TRIGGER secret_reads_append_only BEFORE UPDATE OR DELETE ON secret_reads
  FOR EACH ROW EXECUTE FUNCTION secret_reads_append_only();

-- One row per outbound event (id = webhook-id = its delivery workflow id), for /metrics.
CREATE TABLE event_deliveries (
  event_id      text PRIMARY KEY,
  type          text NOT NULL,
  state         text NOT NULL CHECK (state IN ('retrying', 'delivered', 'given_up')),
  attempts      integer NOT NULL DEFAULT 0,
  last_status   integer,
  last_error    text,
  first_attempt_at timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX event_deliveries_state_idx ON event_deliveries (state);
