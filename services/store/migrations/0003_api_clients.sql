-- API clients of the public edge, registered by their public keys: no secret is stored anywhere.
CREATE TABLE api_clients (
  id         text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9._-]{1,64}$'),
  jwks       jsonb NOT NULL CHECK (jsonb_typeof(jwks) = 'array' AND jsonb_array_length(jwks) BETWEEN 1 AND 5),
  scopes     text[] NOT NULL CHECK (cardinality(scopes) >= 1),
  created_at timestamptz NOT NULL DEFAULT now()
);
