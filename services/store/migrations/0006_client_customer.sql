-- A customer-scoped API client acts for one customer only: it sees and places that customer's orders.
ALTER TABLE api_clients ADD COLUMN customer_id text CHECK (customer_id ~ '^[A-Za-z0-9._:-]{1,64}$');
