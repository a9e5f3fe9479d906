--
-- IANA time zone names
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS workon CASCADE;
RESET client_min_messages;

SELECT tz, workon.valid_timezone(tz)
  FROM (VALUES ('Europe/Berlin'), ('America/Argentina/Buenos_Aires'), ('UTC'),
               ('Etc/UTC'), ('GMT'), ('Etc/GMT+3'), ('Etc/GMT-14'), ('EST5EDT'),
               ('Asia/Kolkata'), ('Pacific/Chatham'), ('europe/berlin'), ('EUROPE/BERLIN'))
       AS v(tz);

-- not zones: POSIX rules, abbreviations, offsets, paths, junk
SELECT format('%L', left(tz, 20)) AS tz, workon.valid_timezone(tz)
  FROM (VALUES (''), ('UTC+3'), ('utc+3'), ('EST5'), ('XYZ5ABC'), ('<+03>-3'),
               ('CEST'), ('+02:00'), ('Mars/Olympus_Mons'), ('Europe/'), ('/Europe/Berlin'),
               ('Europe//Berlin'), ('../../etc/passwd'), ('Europe/Berlin '), (' UTC'),
               ('Europe/Berlin;'), (repeat('A', 300)), (E'UTC\t'))
       AS v(tz);

SELECT workon.valid_timezone(NULL);

-- every zone PostgreSQL lists is valid
SELECT count(*) AS rejected_zones
  FROM pg_timezone_names WHERE NOT workon.valid_timezone(name);
