-- bench/bookings.sql -- pgbench script: the very call the shim makes for
-- POST /api/v1/bookings (workon.dispatch of workon.booking_create), each transaction on a
-- slot no other request uses. pgbench keeps a client's variables across transactions, so
-- :n counts this client's bookings; slot k = base + (n - 1) * clients + client_id.
-- bench.booking_body(k) (bench/setup.sql) turns the slot number into the JSON body: extra
-- work the shim does not do, so the comparison is conservative.
-- scripts/bench.sh passes -D fn=<oid> -D token=<jwt> -D base=<first slot> -D clients=<-c>
-- -D n=0, and PGOPTIONS='-c workon.notify=after_commit' as the shim sets for its sessions:
-- the booking's event then sends no NOTIFY in its transaction, the last column says it is
-- pending (the shim sends one coalesced NOTIFY for many calls after their commits).
\set n :n + 1
\set k :base + (:n - 1) * :clients + :client_id
SELECT status, headers, body, pg_catalog.current_setting('workon.events_pending', true) FROM workon.dispatch(:fn, '{}'::jsonb, '{}'::jsonb, bench.booking_body(:k), :token, '{"request_id":"bench"}'::jsonb);
