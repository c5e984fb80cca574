-- linkflow item store. Secrets (access tokens, user tokens, processor tokens) are stored only as
-- AES-256-GCM envelopes "v1:<key id>:<iv>:<ciphertext>"; public tokens only as their SHA-256.

CREATE TABLE users (
  client_user_id  text PRIMARY KEY,
  user_id         text NOT NULL,
  user_token_enc  text CHECK (user_token_enc LIKE 'v1:%'),
  key_id          text,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now(),
  CHECK ((user_token_enc IS NULL) = (key_id IS NULL))
);

CREATE TABLE link_sessions (
  link_token          text PRIMARY KEY,
  client_user_id      text NOT NULL,
  user_id             text NOT NULL,
  idempotency_key     text UNIQUE,
  request_fingerprint text,
  -- Plaid's string, kept verbatim so an idempotent replay answers byte for byte the same.
  expiration          text NOT NULL,
  created_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX link_sessions_client_user_idx ON link_sessions (client_user_id, created_at);

CREATE TABLE items (
  item_id             text PRIMARY KEY,
  link_token          text NOT NULL,
  client_user_id      text NOT NULL,
  user_id             text NOT NULL,
  public_token_sha256 text NOT NULL UNIQUE CHECK (public_token_sha256 ~ '^[0-9a-f]{64}$'),
  access_token_enc    text NOT NULL CHECK (access_token_enc LIKE 'v1:%'),
  key_id              text NOT NULL,
  institution_id      text,
  institution_name    text,
  products            text[] NOT NULL DEFAULT '{}',
  status              text NOT NULL DEFAULT 'exchanged',
  created_at          timestamptz NOT NULL DEFAULT now(),
  updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX items_link_token_idx ON items (link_token);
CREATE INDEX items_client_user_idx ON items (client_user_id);

-- Written before /item/public_token/exchange is called: a 'pending' row older than a few minutes
-- is an exchange whose outcome is unknown (the remaining loss window, made visible).
CREATE TABLE exchange_intents (
  public_token_sha256 text PRIMARY KEY CHECK (public_token_sha256 ~ '^[0-9a-f]{64}$'),
  link_token          text NOT NULL,
  state               text NOT NULL CHECK (state IN ('pending', 'exchanged', 'failed')),
  item_id             text REFERENCES items (item_id),
  error               jsonb,
  attempts            integer NOT NULL DEFAULT 1,
  created_at          timestamptz NOT NULL DEFAULT now(),
  updated_at          timestamptz NOT NULL DEFAULT now(),
  CHECK ((state = 'exchanged') = (item_id IS NOT NULL))
);
CREATE INDEX exchange_intents_link_token_idx ON exchange_intents (link_token);
CREATE INDEX exchange_intents_open_idx ON exchange_intents (state, updated_at) WHERE state <> 'exchanged';

CREATE TABLE accounts (
  account_id  text PRIMARY KEY,
  item_id     text NOT NULL REFERENCES items (item_id),
  position    integer NOT NULL DEFAULT 0,
  name        text,
  mask        text,
  type        text,
  subtype     text,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX accounts_item_idx ON accounts (item_id, position);

CREATE TABLE payment_setups (
  link_token          text PRIMARY KEY,
  item_id             text NOT NULL REFERENCES items (item_id),
  account_id          text NOT NULL,
  product             text NOT NULL CHECK (product IN ('auth', 'processor', 'transfer')),
  processor_token_enc text CHECK (processor_token_enc LIKE 'v1:%'),
  key_id              text,
  result              jsonb NOT NULL DEFAULT '{}',
  created_at          timestamptz NOT NULL DEFAULT now(),
  CHECK ((processor_token_enc IS NULL) = (key_id IS NULL))
);
