-- bench/search.sql -- 10,000 published spaces whose words GET /api/v1/spaces?q= searches
-- (run by scripts/bench.sh as the superuser, after the steps that list the demo spaces).
-- Descriptions are 12 words of a 64-word vocabulary; every space also carries one of
-- 100 rare words (rareN, so each matches 1 % of the spaces) and every tenth space the
-- word "skylight" (10 %). Zones and so languages vary: Europe/London, Europe/Berlin,
-- Europe/Paris, Europe/Lisbon.
SET workon.scrypt_log_n = 10;
SELECT workon.create_user('bench-search-host@example.com', 'bench search host password', 'Search Host', 'host') AS host \gset
INSERT INTO workon.spaces (host_id, name, kind, city, address, capacity, timezone, hourly_rate_cents,
                           daily_rate_cents, currency, opening_hours, published, description, created_at)
SELECT :'host', 'Space ' || i || ' rare' || (i % 100),
       (ARRAY['desk', 'private_office', 'meeting_room', 'event_space'])[1 + i % 4],
       (ARRAY['London', 'Berlin', 'Paris', 'Lisbon'])[1 + i % 4], 'Street ' || i, 1 + i % 40,
       (ARRAY['Europe/London', 'Europe/Berlin', 'Europe/Paris', 'Europe/Lisbon'])[1 + i % 4],
       500 + (i * 37) % 5000, 3000 + (i * 37) % 30000, 'eur',
       '{"mon":[["08:00","20:00"]],"tue":[["08:00","20:00"]],"wed":[["08:00","20:00"]],"thu":[["08:00","20:00"]],"fri":[["08:00","20:00"]]}',
       true,
       (SELECT string_agg(w[1 + (i * 7 + k * 13) % 64], ' ')
          FROM generate_series(1, 12) AS k,
               (SELECT ARRAY['quiet', 'bright', 'window', 'coffee', 'printer', 'garden', 'terrace', 'parking',
                             'bike', 'shower', 'kitchen', 'lounge', 'phone', 'booth', 'standing', 'desk',
                             'monitor', 'chair', 'ergonomic', 'fiber', 'internet', 'wifi', 'projector', 'screen',
                             'whiteboard', 'meeting', 'private', 'office', 'team', 'event', 'stage', 'sound',
                             'light', 'view', 'river', 'park', 'station', 'metro', 'tram', 'bus',
                             'airport', 'center', 'old', 'town', 'loft', 'studio', 'warehouse', 'brick',
                             'wood', 'plants', 'silent', 'focus', 'creative', 'startup', 'community', 'events',
                             'lockers', 'mail', 'reception', 'security', 'access', 'night', 'weekend', 'pets']) AS v(w))
       || CASE WHEN i % 10 = 0 THEN ' skylight' ELSE '' END,
       timestamptz '2020-01-01 00:00+00' + i * interval '1 minute'
  FROM generate_series(1, 10000) AS i;
ANALYZE workon.spaces;
