-- The store's schema. Runs unchanged on PGlite and PostgreSQL (>= 13). Money is integer minor
-- units (cents) next to its currency; timestamps are timestamptz.

CREATE TABLE products (
  sku         text PRIMARY KEY CHECK (sku ~ '^SKU-[0-9]{4}$'),
  name        text NOT NULL,
  price_minor bigint NOT NULL CHECK (price_minor > 0),
  currency    char(3) NOT NULL CHECK (currency = 'EUR'),
  -- placeOrder relies on this constraint, by name, to refuse an order that would oversell.
  stock       integer NOT NULL CONSTRAINT products_stock_non_negative CHECK (stock >= 0)
);

CREATE TABLE orders (
  id               uuid PRIMARY KEY,
  customer_id      text NOT NULL,
  status           text NOT NULL CHECK (status IN ('placed', 'fulfilled', 'cancelled', 'failed')),
  total_minor      bigint NOT NULL CHECK (total_minor >= 0),
  currency         char(3) NOT NULL CHECK (currency = 'EUR'),
  shipping_address jsonb NOT NULL,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now()
);
-- listOrders: one customer's orders, newest first, by keyset.
CREATE INDEX orders_customer_recent ON orders (customer_id, created_at DESC, id DESC);

CREATE TABLE order_lines (
  order_id         uuid NOT NULL REFERENCES orders (id),
  line_no          integer NOT NULL CHECK (line_no >= 1),
  sku              text NOT NULL REFERENCES products (sku),
  name             text NOT NULL,
  quantity         integer NOT NULL CHECK (quantity >= 1),
  unit_price_minor bigint NOT NULL CHECK (unit_price_minor >= 0),
  PRIMARY KEY (order_id, line_no)
);

CREATE TABLE idempotency_keys (
  key          text PRIMARY KEY,
  request_hash text NOT NULL,
  order_id     uuid NOT NULL REFERENCES orders (id),
  created_at   timestamptz NOT NULL DEFAULT now()
);

-- The transactional outbox, also the embedded profile's event feed: position orders the events.
CREATE TABLE outbox (
  position     bigserial PRIMARY KEY,
  event_id     uuid NOT NULL UNIQUE,
  type         text NOT NULL,
  subject      text,
  payload      jsonb NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  published_at timestamptz
);
-- The relay's claim and the lag gauge read only unpublished rows: a small partial index stays hot.
CREATE INDEX outbox_unpublished ON outbox (position) WHERE published_at IS NULL;

CREATE TABLE consumer_cursors (
  consumer   text PRIMARY KEY,
  position   bigint NOT NULL CHECK (position >= 0),
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE processed_events (
  consumer     text NOT NULL,
  event_id     uuid NOT NULL,
  processed_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (consumer, event_id)
);

-- A cause (a callback, an event) changes an order at most once.
CREATE TABLE order_causes (
  order_id   uuid NOT NULL REFERENCES orders (id),
  cause_id   text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (order_id, cause_id)
);

CREATE TABLE dead_letters (
  id         uuid PRIMARY KEY,
  consumer   text NOT NULL,
  event_id   uuid NOT NULL,
  event      jsonb NOT NULL,
  error      text NOT NULL,
  attempts   integer NOT NULL CHECK (attempts >= 1),
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (consumer, event_id)
);
-- listDeadLetters: newest first.
CREATE INDEX dead_letters_recent ON dead_letters (created_at DESC, id DESC);
