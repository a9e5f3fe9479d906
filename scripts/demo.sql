-- scripts/demo.sql -- demo data for `make run` and the HTTP tests: 2 hosts, 1 member,
-- 24 published spaces in Berlin, Lisbon and Paris and 2 unpublished ones.
-- Idempotent (fixed ids, ON CONFLICT DO NOTHING). Run it as a superuser:
--   psql -v ON_ERROR_STOP=1 -d workon -f scripts/demo.sql
-- Rows are written directly, as a DBA would; row-level security is off for this session
-- (a role that it would still apply to gets an error instead of a partial load).

SET row_security = off;

BEGIN;

INSERT INTO workon.users (id, email, name, role)
VALUES
    ('d0000000-0000-4000-8000-000000000001', 'lena.hoffmann@example.com', 'Lena Hoffmann', 'host'),
    ('d0000000-0000-4000-8000-000000000002', 'joao.ferreira@example.com', 'João Ferreira', 'host'),
    ('d0000000-0000-4000-8000-000000000003', 'camille.martin@example.com', 'Camille Martin', 'member')
ON CONFLICT DO NOTHING;

-- Opening hours used below (in each space's own time zone)
--   office:  Mon-Fri 08:00-20:00
--   long:    Mon-Fri 07:00-22:00, Sat 09:00-18:00
--   weekend: Mon-Sat 09:00-19:00, Sun 10:00-16:00
--   always:  every day, all day
--   evening: Thu-Sat 18:00-24:00 and 00:00-02:00 the next morning
WITH hours (name, opening_hours) AS (
    VALUES
        ('office', '{"mon":[["08:00","20:00"]],"tue":[["08:00","20:00"]],"wed":[["08:00","20:00"]],"thu":[["08:00","20:00"]],"fri":[["08:00","20:00"]]}'::jsonb),
        ('long', '{"mon":[["07:00","22:00"]],"tue":[["07:00","22:00"]],"wed":[["07:00","22:00"]],"thu":[["07:00","22:00"]],"fri":[["07:00","22:00"]],"sat":[["09:00","18:00"]]}'::jsonb),
        ('weekend', '{"mon":[["09:00","19:00"]],"tue":[["09:00","19:00"]],"wed":[["09:00","19:00"]],"thu":[["09:00","19:00"]],"fri":[["09:00","19:00"]],"sat":[["09:00","19:00"]],"sun":[["10:00","16:00"]]}'::jsonb),
        ('always', '{"mon":[["00:00","24:00"]],"tue":[["00:00","24:00"]],"wed":[["00:00","24:00"]],"thu":[["00:00","24:00"]],"fri":[["00:00","24:00"]],"sat":[["00:00","24:00"]],"sun":[["00:00","24:00"]]}'::jsonb),
        ('evening', '{"thu":[["18:00","24:00"]],"fri":[["00:00","02:00"],["18:00","24:00"]],"sat":[["00:00","02:00"],["18:00","24:00"]],"sun":[["00:00","02:00"]]}'::jsonb)
),
demo (n, host, name, kind, city, address, capacity, timezone, hourly, daily, hours, published) AS (
    VALUES
        (1, 1, 'Kreuzberg Canal Desks', 'desk', 'Berlin', 'Paul-Lincke-Ufer 39, 10999 Berlin', 1, 'Europe/Berlin', 600, 3000, 'office', true),
        (2, 1, 'Mitte Hot Desk Lounge', 'desk', 'Berlin', 'Torstraße 109, 10119 Berlin', 1, 'Europe/Berlin', 500, 2500, 'long', true),
        (3, 1, 'Prenzlauer Berg Studio Office', 'private_office', 'Berlin', 'Kastanienallee 77, 10435 Berlin', 4, 'Europe/Berlin', 2500, 14000, 'office', true),
        (4, 1, 'Spree Meeting Room', 'meeting_room', 'Berlin', 'Stralauer Allee 6, 10245 Berlin', 8, 'Europe/Berlin', 4500, 28000, 'long', true),
        (5, 1, 'Neukölln Warehouse Hall', 'event_space', 'Berlin', 'Weserstraße 58, 12045 Berlin', 120, 'Europe/Berlin', 18000, 120000, 'evening', true),
        (6, 1, 'Charlottenburg Private Suite', 'private_office', 'Berlin', 'Kantstraße 150, 10623 Berlin', 6, 'Europe/Berlin', 3200, 19000, 'office', true),
        (7, 1, 'Tempelhof Focus Desk', 'desk', 'Berlin', 'Columbiadamm 10, 12101 Berlin', 1, 'Europe/Berlin', 400, 2200, 'always', true),
        (8, 1, 'Moabit Boardroom', 'meeting_room', 'Berlin', 'Alt-Moabit 96, 10559 Berlin', 14, 'Europe/Berlin', 6500, 42000, 'office', true),
        (9, 1, 'Friedrichshain Team Room', 'meeting_room', 'Berlin', 'Boxhagener Straße 16, 10245 Berlin', 6, 'Europe/Berlin', 3500, 21000, 'weekend', true),
        (10, 2, 'Alfama Terrace Desks', 'desk', 'Lisbon', 'Rua de São Miguel 14, 1100-544 Lisboa', 1, 'Europe/Lisbon', 450, 2400, 'weekend', true),
        (11, 2, 'LX Factory Studio', 'private_office', 'Lisbon', 'Rua Rodrigues de Faria 103, 1300-501 Lisboa', 5, 'Europe/Lisbon', 2200, 12500, 'long', true),
        (12, 2, 'Príncipe Real Garden Office', 'private_office', 'Lisbon', 'Rua da Escola Politécnica 42, 1250-102 Lisboa', 3, 'Europe/Lisbon', 1800, 10000, 'office', true),
        (13, 2, 'Cais do Sodré Meeting Room', 'meeting_room', 'Lisbon', 'Rua Nova do Carvalho 34, 1200-292 Lisboa', 10, 'Europe/Lisbon', 4000, 24000, 'office', true),
        (14, 2, 'Marvila Riverside Loft', 'event_space', 'Lisbon', 'Rua do Açúcar 88, 1950-010 Lisboa', 80, 'Europe/Lisbon', 12000, 80000, 'evening', true),
        (15, 2, 'Baixa Hot Desk', 'desk', 'Lisbon', 'Rua Augusta 230, 1100-056 Lisboa', 1, 'Europe/Lisbon', 350, 1800, 'long', true),
        (16, 2, 'Santos Design Office', 'private_office', 'Lisbon', 'Avenida Dom Carlos I 59, 1200-647 Lisboa', 8, 'Europe/Lisbon', 3000, 17000, 'office', true),
        (17, 2, 'Belém Boardroom', 'meeting_room', 'Lisbon', 'Rua de Belém 51, 1300-085 Lisboa', 16, 'Europe/Lisbon', 5500, 36000, 'weekend', true),
        (18, 1, 'Le Marais Hot Desk', 'desk', 'Paris', '12 Rue des Rosiers, 75004 Paris', 1, 'Europe/Paris', 700, 3500, 'long', true),
        (19, 1, 'Canal Saint-Martin Atelier', 'private_office', 'Paris', '98 Quai de Jemmapes, 75010 Paris', 4, 'Europe/Paris', 2800, 16000, 'office', true),
        (20, 1, 'Montmartre Meeting Room', 'meeting_room', 'Paris', '22 Rue des Abbesses, 75018 Paris', 8, 'Europe/Paris', 5000, 30000, 'office', true),
        (21, 2, 'Bastille Private Office', 'private_office', 'Paris', '15 Rue de la Roquette, 75011 Paris', 6, 'Europe/Paris', 3500, 21000, 'weekend', true),
        (22, 2, 'Belleville Event Loft', 'event_space', 'Paris', '77 Rue de Belleville, 75019 Paris', 60, 'Europe/Paris', 15000, 95000, 'evening', true),
        (23, 1, 'Saint-Germain Library Desks', 'desk', 'Paris', '40 Rue du Four, 75006 Paris', 1, 'Europe/Paris', 800, 4000, 'office', true),
        (24, 2, 'La Défense Conference Hall', 'event_space', 'Paris', '1 Parvis de la Défense, 92800 Puteaux', 200, 'Europe/Paris', 25000, 160000, 'always', true),
        (25, 1, 'Kreuzberg Rooftop (opening soon)', 'event_space', 'Berlin', 'Skalitzer Straße 80, 10997 Berlin', 40, 'Europe/Berlin', 9000, 60000, 'evening', false),
        (26, 2, 'Pigalle Studio (draft)', 'private_office', 'Paris', '8 Rue Frochot, 75009 Paris', 2, 'Europe/Paris', 1500, 9000, 'office', false)
)
INSERT INTO workon.spaces (id, host_id, name, kind, city, address, capacity, timezone,
                           hourly_rate_cents, daily_rate_cents, currency, opening_hours,
                           published, created_at, updated_at)
SELECT format('d1000000-0000-4000-8000-%s', lpad(demo.n::text, 12, '0'))::uuid,
       format('d0000000-0000-4000-8000-%s', lpad(demo.host::text, 12, '0'))::uuid,
       demo.name, demo.kind, demo.city, demo.address, demo.capacity, demo.timezone,
       demo.hourly, demo.daily, 'eur', hours.opening_hours, demo.published,
       -- one a day in 2025, so the newest-first order is the list order above, reversed
       timestamptz '2025-01-01 09:00:00+00' + demo.n * interval '1 day',
       timestamptz '2025-01-01 09:00:00+00' + demo.n * interval '1 day'
FROM demo
JOIN hours ON hours.name = demo.hours
ON CONFLICT DO NOTHING;

COMMIT;
