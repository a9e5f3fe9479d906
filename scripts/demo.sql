-- scripts/demo.sql -- demo data for `make run` and the HTTP tests: 2 hosts, 1 member,
-- 24 published spaces in Berlin, Lisbon and Paris and 2 unpublished ones, each with a
-- cover photo; 3 blog posts (en, fr).
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

-- Photos: one illustration per kind of space (a PNG drawn for the demo), the cover of
-- every demo space, stored in PostgreSQL as any upload is (fixed ids: d2... for the
-- space d1... with the same last digits).
BEGIN;

CREATE TEMP TABLE demo_photo ON COMMIT DROP AS
WITH art (kind, bytes) AS (
    VALUES
        ('desk', decode(
            'iVBORw0KGgoAAAANSUhEUgAAAeAAAAEsCAIAAACUnPcNAAAJO0lEQVR42u3duXKWZRjHYTkHxzWGPWDAHfUAtLawkVXR2hmt'
            '7KTA1kIaS0B2G44AZwSVLftK8mUPYRX1FOycD5hhhtd8ue/nfa+rcmiYvP/7+TXMmHW/9k09A0A+6wQaQKABEGiAGgT6okAD'
            'CDQATxPofoEGEGgABBqgBoGe9hUABBoAgQYQaAAEGqBJgb4k0ABJAz0g0AACDcDTBLrlKwAINAACDSDQAAg0gEADEB7o3wQa'
            'IGmgBwUaIGmgZ3wFAIEGQKABBBoAgQYQaGCtvL9zS21+lkOHvvvvvw8f/rY2P9e18VmBBoEWaIFuC/TvQwINkd7bIdDZXZ8Q'
            'aBBogRbohwM964VAaKA3C3T6QM8JNAi0QAu0QINAC7RAAwIt0AINAi3QAg0ItEALNAi0QDc40MMCDaGB7hXo9IGeDAr0H8Nz'
            'XggEerd3k0An1zc5L9Ag0AIt0AINAi3QAg0ItEALNAi0QAs0INACLdAg0AIt0IBAC3S2QI/MeyEQGehXNwp09kDfWIgJ9GWB'
            'hlC7BDq9foEGgRZogRZoEGiBFmhAoAVaoEGgBVqgAYEWaIEGgRZogQYEWqDzBXp0wQuByEBv3yDQ2QM9tRgT6CsCDaHeEej0'
            'BgQaBFqgBVqgQaAFWqABgRZogQaBFmiBBgRaoAUaBFqgmx3oRS8EQgO9XqDTB3opKNBjAg2hgd4m0OkDPS3QINACLdDtgb4q'
            '0BDqbYFOb1CgQaAFWqAFGgRaoAUaEGiBFmgQaIGuX6CXvBAIDXS3QKcP9LJAg0ALtEC3B3pcoCE00D0CnT7QLYEGgRZogW4P'
            '9DWBhlBvCXR6QwINAi3QAi3QINACLdCAQAu0QINAC3T9Ar3shUBooF8R6PSBvhkU6AmBhtBAbxXo9IGeEWgQaIEWaIEGgRbo'
            'AgJ9XaAh1PmTx32E5D4+cFCgQaARaIEGgUagAYEW6MqBvunrQ6A3t3bV5mep6z8SDs+sCDQItEALdHugJwUaQgO9RaDTB3pW'
            'oEGgBVqgBRoEWqAFGhBoga4a6D6BhlBvCHR6IwINAi3QAv1IoFe8EAgN9MsCnT7QtwQaBFqgBVqgQaAFuoBA3xBoCA30ZoFO'
            'H+g5gQaBFmiBFmgQaIEWaECgBbpqoPsFGkK9LtDpjQo0CLRAC/Qjgb7lhUBooF8S6PSBvi3QINACLdACDQIt0AUEekqgITTQ'
            'mwQ6faDnBRoEWqAFWqBBoAVaoAGBFuiqgR4QaAj1mkCnNxYX6NteCIQG+kWBTh/oOwINAi3QAi3QINACLdCAQAt01UBPCzSE'
            'BnqjQKcP9IJAg0ALtEALNAi0QAs0INACXT3Qd7wQCA30CwKdPtB3YwI9KNAQaqdApzcu0CDQAi3QAg0CLdACDQi0QFcPdEug'
            'ITTQGwQ6faAXBRoEWqAFWqBBoAVaoAGBFujqgb7rhUBooJ8X6PSBvhcT6CGBhlA7BDq9CYEGgRZogRZoEGiBFmhAoAW6eqBn'
            'BBpCA71eoNMHekmgQaAFWqAFGgRaoIsI9D0vBEID/ZxApw/0fYEGgRZogW4L9LBAQ6hegU5vUqBBoAVaoAUaBFqgiwj0rEBD'
            'aKC7BTp9oJcFGgRaoAVaoEGgBbqIQN8v/dt9sW9/yN979PQpcbGRjWwk0A7LRjaykUA7LIdlIxvZSKAdlsdvIxvZ6EmBHik/'
            '0J8HHdYxh2UjG9lIoB2WjWxko0YGeq78QO8NOqwzDstGNrKRQDssG9nIRgLtsByWjWxkozyB/rP8w9oXdFinHZCNbGQjgXZY'
            'NrKRjQTaYTksG9nIRgLtsDx+G9nIRk8K9Gj5gT4YdFjHHZaNbGQjgXZYNrKRjRoZ6PnyA70n6LDOOiwb2chGAu2wbGQjGzUy'
            '0A/KP6y9QYd1xgHZyEY2EmiHZSMb2UigHZbDspGNbCTQDsvjt5GNbCTQDstG2KjAQI+VH+jPgg7rJ4dlIxvZSKAdlo1sZKNG'
            'Bnqh/EDvDjqscw7LRjayUWcD/Vf5h7Un6LDOOiAb2chGAu2wbGQjGwm0w3JYNrKRjQTaYXn8NrKRjQTaYdkIGwm0w8JGNrKR'
            'QDssG9nIRjUP9Hj5gf406LBOOCwb2chGnQ30YvmB/iTosH52WDaykY06G+i/yz+s3UGHdc4B2chGNhLojt+iK7ERNhJoh4WN'
            'bIRAOywbYSOBdljYyEY2EmiHZSNsJND/26mvP/R9V8X+Hy7YyEak3aiDgZ7oWKBPOqxVcqBjh2UjG9kod6CX/unUYX31gZtY'
            'ncM68ouNbETajQTaYdnIRgi0w/L4sZGNBBqP30Y2EmiBdlg2spGNBNphefw2spFAC7TDspGNEGiH5fFjIxtFBPrHb9bofwK7'
            '3Go9/ofdPT0NP5pUn8VGNrKRQDssj99GNvJZBNph2chGNhJoh+Xx28hGNhJoh2UjG9lIoH1Bj99GNrKRQDssj99GNvJZBNph'
            '2chGNhJoh+Xx28hGPotAOywb2chGAu0Levw2spGNBNphuXIb2UigfUGHZSMb2UigHZbHbyMb+SwC7bBsZCMbCbTD8vhtZCMb'
            'CbTDspGNbCTQvqDHbyMb2UigHZbHbyMb+SwC7bBsZCMbFRXo77/8aG3+pgcrK4//4bNdXQ0/rFSfxUY2spFAOyyP30Y28lkE'
            '2mHZyEY2EmiH5fHbyEY2EmiHZSMb2UigfUGP30Y2spFAOyyP30Y28lkE2mHZyEY2EmiH5fHbyEY+i0A7LBvZyEYC7Qt6/Day'
            'kY0E2mG5chvZSKB9QYdlIxvZSKAdlsdvIxv5LALtsGxkIxsJtMPy+G1kIxsJtMOykY1sJNC+oMdvIxvZSKAdlsdvIxv5LALt'
            'sGxkIxsVFWi/NDaWX0hqIxv5LALtsGxkIxsJtMPy+G1kI59FoB2WjWxkI4H2BT1+G9nIRgLtsDx+G9nIZxFoh2UjG9lIoB2W'
            'x28jG/ksAu2wbGQjGwm0L+jx28hGNqpJoAEQaACBBkCgAQQaAIEGQKABBBoAgQYQaAACAr1mvzQWAIEGEGgABBpAoAEQaAAE'
            'GkCgARBoAIEGQKABEGgAgQZAoAEEGgCBBhBoAAQaAIEGEGgAVjXQfmksgEADINAAAg2AQAMINAACDYBAAwg0AAININAACDQA'
            'Ag0g0AAINIBAAyDQAAINgEADINAARfoX/WaJh3osKKoAAAAASUVORK5CYII=', 'base64')),
        ('private_office', decode(
            'iVBORw0KGgoAAAANSUhEUgAAAeAAAAEsCAIAAACUnPcNAAAKjUlEQVR42u3dx49VVRzAcfkXjHGFiIWxY+JSURFsWEAWKh2k'
            '7FRUehtghlGqysZEEaWXuKBI7ypKRxj6DJ0BjDH+De7IQwMx9zCcc898vqtJ3uK8e3/v98lMXia31aFdG++QJKVXK0BLUqJA'
            'H94NaEkCtCQJ0JIEaElScwG9yV2QJEBLkgAtSYCWJAFakloS0PV7AC1JgJYkAVqSAC1JArQktTCgN7sLkgRoSRKgJansQB8B'
            'tCQlCvReQEsSoCVJgJYkQEuSAC1JgJYkpQD0FndBkgAtSfrfQB8FtCQlCvQ+QEsSoCX9p6onO2dzLdXVtdd+rqmZkM11NRze'
            'CmgJ0IAGNKAlQAMa0JIADWhAS4AGdG5Ab7UhUlSgOwE6eaC3AVoCNKABXQH0MUBLUWsH6ORrjAb0fkBLUYFuD+jkga4HtARo'
            'QAMa0BKgAQ1oSYAGNKAlQAMa0JIADWhAS4AGdAsG+vj+bTZEitiD7V8AdOKdrt8OaAnQgAZ0JdAHAC1FBfoJQCcP9BFAS4AG'
            'NKABLQEa0ICWBGhAA1oCNKABLQnQgAa0BGhAt2CgTwBaitoDgE6+M/GA3m5DpKhAdwR08kDviAT0QUBLUYF+HNDJA30U0BKg'
            'AQ1oQEuABjSgJQEa0DGAHrJtdpQ3PafTUFstQAMa0ICWAA1oQANagAY0oCuBPhkA9OBIQH8LaGXU/YBOvrOABrQADWhAXw/0'
            '78UPHrz1yzhAd/7IVisfoB97HtCpA33sJ0ADWoAGNKABLQEa0IAGtARoQANaAjSgAQ1oCdCAvg1AnwoAelAkoOcCWhl1H6CT'
            '7xygAS1AAxrQgJYADehSAH2o+MGDtnwRB+gXP7bVygfoR58DdOpAH/8Z0IAWoAENaEBLgAY0oAEtARrQgJYADWhAA1oCNKBv'
            'A9ANAUAPjAT0d4BWRrUFdPKdBzSgBWhAAxrQEqABXQqgDwcAvTkS0C8BWhkB/Qigkwf6RDSgix88cPPnkYD+xFYrI6CfBXTy'
            'QP8CaEAL0IAGNKAlQAMa0ICWAA3ogkA3BgD9XiSgvwe0Mmru0h1uQuIN6tkR0IAWoAVoQEuAFqABLQEa0EWBrg8AelMkoF8G'
            'tPLp3od9SZh6F07G+pIQ0BKgAZ0q0MUPfm/TrEhAD7PVygjoDoBOHuidgAa0AA1oQANaAjSg0wf6dADQAyIBPQ/Qyqg2gE6+'
            'i4AGtAANaEADWgI0oAENaAnQgC4O9JEAoDdGAvoVQCsjoB8CdPJAnwI0oAVoQAP6eqCLHzxg48xIQA+31coI6GcAnTzQvwIa'
            '0AI0oAENaAnQgE4f6DMBQPePBPR8QCuj7gF08l0CNKAFaEADGtASoAENaEBLgAZ0caCPBgC9IRLQrwJaGQFdBejkgW4ANKAF'
            'aEADGtASoAFdCqCLH9x/w4xIQI+w1coI6KcBnTzQv8UB+mwA0P0iAb0A0Mqo1oBOviZAA1qABjSgAS0BGtCABrQEaEADWgI0'
            'oLMD+lgA0OsjAd0F0MoI6HaATh7oRkADWqVtfN3yBN/VvHmzAQ1oQAvQgAY0oAEtQAO65QB97ljxg/uunx7lTS/sMpIISqpx'
            'dcsAnTHQlxt3ARrQAjSgAQ1oCdCABjSgBWhAAxrQEqABnRnQxwOAXhcJ6NcArcSAngLorIE+DWhAC9CABjSgJUADGtCAFqAB'
            'DeiiQJ8PALpPJKAXAVqJNRbQWQN9JR7QxQ/us25aJKBHEUGJAb0U0FkDvRvQgBagAQ1oQEuABjSgAS1AAxrQRYE+EQD02khA'
            'vw5oJQZ0LaCzBvoMoAEtQAMa0ICWAA3oEgB9IQDo3pGAXpwd0N0HTCzde14xbzKXrzUG0FkDfRXQgAY0oAEN6H8BXfzg3mun'
            'RgJ6dHZAV5cQ6BouVwC9BNBZA70H0IAGNKABDWhAAxrQgAY0oAENaEADGtBFgT4ZAPSaSEC/kR3Q/UsI9HxAVwBdA+isgT4L'
            'aEADGtCABjSgAQ1oQAO6BEBfDAC6VySgl2QH9FslBHoloCsaDeisgf4D0IAGNKBvbVOrexlNqQM0oAENaKULdPFf3Xut+SwS'
            '0GOyA7p8fwyunF9rfyqAXpwk0L2NBtCABjSgAS1AAxrQgAZ0CwL6VADQP0YC+s3sgO5XQqAXALoC6MlJAj0R0IAGNKABDWg1'
            'B9CXAoDuGQnopdkB3a2EQK8CdEWjkgR6GqABDWhAC9ACNKABDWhAAxrQgAY0oAVoQAMa0IDWjYDeGwD0p5GAHpsd0ONLCPQU'
            '+1MB9KIkge5jNIAGNKABDWg1B9ANAUCvjgR01+yA7ltCoBcCugLoSUkCPQnQgAY0oAENaDUH0E0BQPeIBPSy7IDuWkKgVwO6'
            'opFJAj0d0IAGNKAFaAEa0IAGNKABDWhAAxrQAjSgAQ1oQOtGQO8LALouEtDjsgO6fFe0emGd/akAemGSQPc1GkADGtCABrSa'
            'A+jGAKBXRQK6W3ZA9ykh0IsAXQH0xCSBngxoQAMa0IAGtJoD6MsBQL8bCejl2QGtsjciSaBnABrQgJYALUADWoAGNKABLQFa'
            'gAa0AA1o5QN0h50XTU63vA9mfA1opQb0/gCg4/yzL6DVPEB/EwD0giSB7mesJQf6dADQKwGtjICeGQB0dZJA1wC65EBfCQD6'
            'HUAroz4MAHp4kkDPBDSgAS1AA1qABrQADWhAA1qABrQADWgBGtACtARoARrQAjSgBWgJ0IDOF+gzB4oDvaIW0MoH6FlzigM9'
            'YX6KQNf2N9ZyA301AOi3Aa2MGhoA9LAkgZ4FaEADWoAGtAANaAEa0IBOG+gfuk+4yauzhw1ppiVU+sWaPqAFaEAL0IAGNKAF'
            'aEAL0IAWoAEtQAMa0IBWqYD+amSPzC7pYkPDTV5tU1Vl6hkXa/o7m+5O8G50aP2njwSgragADWgBGtACNKABbUVl+oAWoAEt'
            'QANagAY0oAEtQANagAa0AA1oARrQgLaiMn1AC9CAFqABLUDL9AEtQANagAa0AA1oQAMa0IC2ojJ9QAvQgBagAQ1oKyrTB7QA'
            'DWgBGtACNKABDWgBGtACNKAFaEAL0IDOGuiZ73fN7JL+amq6yat3tW5t6hkXa/oH/26b4N146s7zPhKAtqICNKAFaEAL0IAG'
            'tBWV6QNagAa0AA1oARrQgAa0AA1oARrQAjSgBWhAA9qKyvQBLUADWoAGtAAt0we0AA1oARrQAjSgAQ1oQAPaisr0AS1AA1qA'
            'BjSgrahMH9ACNKAFaEAL0IAGNKAFaEAL0IAWoAEtQAM6a6A9NFamH56HxgrQgBagAQ1oKyrTB7QADWgBGtACNKABDWgBGtAC'
            'NKAFaEAL0IAGtBWV6QNagAa0AA1oAVqmD2gBGtACNKAFaEADGtCABrQVlekDWoAGtAANaEBbUZk+oAVoKZsALUBLgAY0oCUB'
            'WoCWAA1oAVoCtEoFdH4PjZUkQEuSAC1JgJYkAVqSBGhJArQkCdCSBGhJEqAlSYCWJEBLkgAtSYCWJAFakgAtSQK0JAnQkgRo'
            'SRKgJallAO2hsZIEaEkSoCUJ0JIkQEsSoCVJgJYkAVqSAC1JArQkAVqSBGhJEqAlCdCSJEBLEqAlSYCWJEBLkgAtSQK0JJWy'
            'fwA2W2u1636h7AAAAABJRU5ErkJggg==', 'base64')),
        ('meeting_room', decode(
            'iVBORw0KGgoAAAANSUhEUgAAAeAAAAEsCAIAAACUnPcNAAAJRUlEQVR42u3duZJVVRSAYXkEhh6Atpl6ZlYfQzCywMBUS8XU'
            'TAJMzVQoTQ2EMhJ8Bpnpue/Qc9NzM7yCmWXpPVWA3t57nfP9EVHXuvuu9SUEd88fU3ffkiTl1x5AS1K2QN/zCpIEaEkSoCUJ'
            '0JKk9gA9DWhJArQkCdCSBGhJUnuAvgtoScoV6PteQZIALUkCtCSFB3oG0JIEaEkSoCUJ0JIkQEtSpYC+B2hJyhXoB15BkgAt'
            'SQK0JIUHugZoSQK0JAnQkgRoSRKgJalSQN8HtCTlCvRDryBJgJb0z86feK80n+Xq1W/++ve1a1+X5nONzj9KBHQd0FJSoI8D'
            'OnugFwAtARrQgAa0BGhAA1oSoAENaAnQgAa0JEADejeAfgBoKWnnAJ19Y+mAfuRCpKRAvwvo7IF+nAjoBqClpEAfA3T2QC8C'
            '+pU72TPsqtWy6dUaoAENaEAL0IAGNKABLUADGtCAFqABDWhAA1qABjSgAS1AAxrQQYF+GBDoEUCroJmAQJ8FdPaNpwP6cbjH'
            'GukZIpEKgK4HBPodQGcP9JNEQDcDAn0Y0CoAei0g0EcBnT3QS4AGtAANaEADWoAGNKABDWgBGtCABrQEaEADGtACNKABDWhA'
            'C9CArjDQjwICPQxoFVQLCPQZQGffRDKgZ5+Ee6zhQ4MkUmug1xvxgD5yHtC5A708CmhAC9CABjSgBWhAAxrQgBagAQ1oQEuA'
            'BjSgAS1AAxrQgAa0AA1oQANagAY0oDMD+nFAoIcArYLqAYE+Dejsm0wG9NxouMcaOjhAIrUGeqMZD+jec4DOHeiVMUADWoAG'
            'NKABLUADGtCABrQADWhAA1oCNKABDWgBGtCABjSgBWhAAxrQAjSgAZ0Z0E/m4wE92A1ota6xGQ/oU28DOvemniYDeizcYw12'
            '95NIBUDPBgT6LKCzB3oc0IAWoAENaEAL0IAGNKABLUADGtCAlgANaEADWoAGNKABDWgBGtCABrQADWhAZwb06EI8oAe6AK3W'
            'NbfiAX2yB9C5N72aDOjxcI810NVHIhUAPRcQ6DOAzh7oCUADWoAGNKABLUADGtCABrQADWhAA1oCNKABDWgB+v/r1k+/+eIy'
            '79InHwAa0AK0AP13oBcDAt0JaBUAvR0Q6B8BnT3QnyYCeiwg0P2AVkGzAYG+Cejsu5wO6Ilwj9XfecLGqADo+XAzjxw+XZr3'
            'L+t/Es6sTQIa0AI0oAENaAEa0IAGNKAFaEADGtASoAENaEAL0IAGNKABLUADusJALwUEugPQKgB6JyDQhwCdPdDriYAeDwh0'
            'H6BV0FxAoIcBnX21dEBPhnusvo7jJFIB0AsBgT4F6OyBngI0oAVoQAMa0AI0oAENaEAL0IAGNKAlQAMa0IAWoAEN6N0Aejkg'
            '0AcArQKgnwUE+iCgswd6A9CAFqABDWhAC9CABnQAoCeWp8I91okDx0ikls0/Www389DBk4DOvPrGNKABLUADGtCAFqABDWhA'
            'A1qABjSgAS0BGtCABrQADWhA7wbQKwGB3g9oFQD9PCDQ3YDOHuhNQANagAY0oAEtQAMa0AGAnlyZDvdYx/cfJZFatvB8KdzM'
            'g90jgM68xuYMoAEtQAMa0IAWoAENaEADWoAGNKABLQEa0CUD+mlAoPcBWgVAvwgIdBegswd6C9CAFqABDWhAC9CABjSgAS1A'
            'AxrQbwr01NOZcI91bN8REqlliy+Ww8080DUM6MxrbtUADWgBGtCABrQADWhAAxrQAjSgAQ1oCdCALhnQqwGB3gtoFQD9MiDQ'
            'nYDOHuhtQANagAY0oAEtQAMa0IAGtAANaEC/KdDTq7Vwj3V0by+J1LKllyvhZu7vHAJ05s1u1wENaAEa0IAGtAANaEADuh39'
            '/P2vJFLLPr7yIaABXSKg1wIC/R2gVQD0lwGB7gB09kDvABrQAjSgAQ1oARrQgAa0JEADGtASoAFdMqBn1uouREpYX8cgoDNv'
            'bqcBaAnQgAY0oCVAAxrQkgAN6DcFeh3QkpRjgJYkQEuSAC1JgJYktQ3o2nrDK0gSoCVJgJak8EBvAFqSAC1JArQkAVqSBGhJ'
            'ArQkKT3Q9Y2mV5AkQEuSAC1J4YHeBLQkAVqSBGhJArQkCdCSBGhJUnqgG5uzXkGSAC1JenWgtwAtSYCWJAFakgAtSQK0JAG6'
            'xH108Ys2/eVfbv9gSEMaMuGQgAa0YzCkIQG9W0A3t+Yq9YEvX/y8TX/55u3rhjSkIRMOCWhAOwZDGhLQuwb0dsWAvtC2Pbtz'
            '3ZCGNGTCIQENaMdgSEMCGtCANqQhDQloQDsGQxoS0IAGtCENaUhAA9oxGNKQgAY0oF2sIQ0J6LYAPbs9X6kPfOnCZ236y7fu'
            '3DCkIQ2ZcMgyAr1TMaDfb9ue/X7DkIY0ZMIhAQ1ox2BIQwIa0IA2pCENCWhAOwZDGhLQgAa0IQ1pSEAD2jEY0pCABjSgXawh'
            'DQloQDsGQxrSkFUC+vpXl8MNvdJs+uYkvVa9AwOABrQkQANakgANaEmABjSgJQEa0JIADWhASwI0oCUJ0ICWBGhAA1oSoAEt'
            'CdCABrQkQANakgANaEmABjSgJQEa0JIADWhASwI0oCUBGtCAlgRoQEtS6YD+9srFcEM/W121bZJeqwM9PYAGtCRAVxjoduMe'
            '8YuU3Gb5ArQlkNwmoC2BJLcJaEsguU1AWwJJbhPQlkBym4C2BICW3CagLYEktwloSyC5TUBbAkluE9CWQHKbgLYEktwmoC2B'
            'BGi3CWhLILlNQFsCSW4T0JZAcpuAtgSS3CagLYHkNqsJdMQfjf0vvcoPzkb8cUnJbQLaEkhym4C2BJLbBLQlALTkNgFtCSS5'
            'TUBbAsltAtoSSHKbgLYEktsEtCWQ5DYBbQkkuU1AWwLJbQLaEkhym4C2BJLbBLQlkOQ2AW0JJEC7TUBbAsltAtoSSHKbgLYE'
            'ktsEtCWQ5DYBbQkkt1k9oP1o7L/zo7GS2wS0JZDkNgFtCSS3CWhLIMltAtoSSG4T0JZAktsEtCWQAO02AW0JJLcJaEsgyW0C'
            '2hJIbhPQkiRASxKgJUmAliQBWpIALUkCtCQBWpIEaEkSoCUpAtBV+9FYSQK0JAnQkgRoSRKgJQnQgJYkQEuSAC1JgJYkAVqS'
            'AC1JArQkCdCSBGhJEqAlCdCSJEBLkgAtSYCWJAFakkrSn0LORAL6ReW7AAAAAElFTkSuQmCC', 'base64')),
        ('event_space', decode(
            'iVBORw0KGgoAAAANSUhEUgAAAeAAAAEsCAIAAACUnPcNAAAKZ0lEQVR42u3dOWzXZRzHcXA28UjKUaBQ6skRkUEX42SI8UCi'
            'i4kJoBLxwNXEgwJFZXE2cVMTRx2cjHGQwwNaereUo/fFkXgkxtG4mfL/Ldhf2t/39zyv96QNA5/f8zyvhaErB3/sXCFJitdK'
            'QEsSoCVJgJakFIA+CWhJArQk6daBHjrZ5StIEqAlSYCWJEBLkgAtSYCWJAFakgRoSaoV0MOnAC1JQYE+7ytIEqAlSYCWJEBL'
            'kgAtSYCWJAFakgRoSaoV0BdOA1qSggLd7StIEqAlSYCWJEBLkgAtSYCWJAFayry2Rx9OZkt7+/H//ruj43Ayu0bP9lQD9Aig'
            'pUrbDOjwjVUG9JkeL0SqEuhHdgA6OtDnegEtARrQgAa0BGhAA1oSoAENaAnQgAa0JEADGtASoAGdL9AXAS1VWiugwzcOaC1F'
            'zx1420dIuP7+04BOG+hetzxpoA/5CIAGdGmg+yoC+idAJw30q4AGNKBLA90JaAFagAY0oAEtQAMa0AK0AA1oQAvQgAY0oAVo'
            'ARrQywH0JUAn3W5AAxrQpZsAtAAtQAO6Aeg+tzxpoN/yEQAN6NJA91cE9M+AThroVwANaECXBroL0AK0AA1oQANagAY0oAVo'
            'ARrQgBagAQ3oxIC+DOikexbQgAZ06SYBLUAL0IAGNKAFaEDXA+h+tzxpoN/0EQAN6NJAD1QE9C+AThrolwENaECXBvo8oAVo'
            'ARrQgAa0AA1oQAvQAjSgAS1AAxrQiQF9BdBJ9wygAQ3o0k0BWoAWoAENaEAL0ICuB9ADbnnSQL/hIwAa0KWBHgS0AC1AA3oh'
            '0L8COmmg9wMa0IAuDXQ3oAVoARrQgAa0AA3oGgA9CuikexrQgAZ06aYBLUAL0IAGNKAFaEADWoAWoAFdAuhBtzxpoF/3EQAN'
            '6NJADwFagBagAb0Q6LOAThrofYAGNKBLA90DaAFagAY0oAEtQAO6BkCPATrpngI0oAFduhlAC9ACNKABDWgBGtD1AHrILU8a'
            '6IM+AqABXRroYUAL0AI0oAENaAEa0DUA+hygkwZ6L6BTbs+eXT7CMvTa8y8AWoAWoAG9AOhxQEuV9tk3X/sIwTsIaAnQAjSg'
            'pUCt27ElmS2p/iPhbG9F/0gIaAnQgA4L9LAXIlUK9IOADg/0BUBLgAY0oAEtARrQgJYEaEAvFuhOQEuVAv0QoMMD3VcR0BOA'
            'liqtGdDhm0sP6Oa7vozycX/fW8GrM9/8CLWcWH6gOw78ndh8QHui5psPaEADmlDmAxrQNQH6wpLd0S/CPNF9VTxR880HdDJA'
            'jwDaEzXffEADGtCEMh/QgAa0J2q++YAG9CKBnuxaKqDX3hnljs7/UcETNd98QCczf74f0J6o+eYDGtCAJpT5gAY0oD1R880H'
            'NKAB7Ymabz6gkwN6ZMnu6Odhnuj+Kp6o+eYDOhmgLwLaEzXffEADGtCEMh/QgAa0J2q++YAG9CKBnjq/VECvuSPKHb36ZwVP'
            '1HzzAZ3M/KsDgPZEzTcf0IAGNKHMBzSgAe2Jmm8+oAEdD+gyzc13NPykeW37imwyP6v5a7bfv/B/u79/qeEP7Nz1VV22lP+l'
            'sTHnVwj0xZBP9FjhiR7JSSjzM5q/Zvt9gA4P9CVAE8p8QAMa0IAmlPmABnR8oKdDAj1beKLrchLK/KzmrwZ0+PnXAE0o8wEN'
            'aEDfDHR3SKDnCk+0OSehzM9p/uptgA4P9CCgCWU+oAENaEATynxAAxrQnqj55gMa0IsH+lLIJ3q08ESP5iSU+RnNX73tXkCH'
            'B/oyoAllPqABDWhAE8p8QAM6PtAzIYGeKTzR9TkJZX5W81cBOvz864AmlPmABjSgbwa6JyTQs4Unui4noczPaf6qrYAOD/QQ'
            'oAllPqABDWhAE8p8QAMa0J6o+eYDGtCLB/pyyCd6pPBEj+UklPkZzV+19R5Ahwf6CqAJZT6gAQ3oBUDPhgR6uvBEN+QklPlZ'
            'zW8CdPj5NwBNKPMBDWhAA5pQ5gMa0LUAujck0DOFJ7o+J6HMz2l+0xZAhwd6GNCEMh/QgAY0oAllPqABXQugr4R8ou2FJ9qR'
            'k1DmZzS/aUsboMMDPQpoQpkPaEADGtCEMh/QgI4P9FxIoKcKT7QlJ6HMN9/8POcD2h0133zzAe2QzDfffPMB7Y6ab775KQLd'
            'FxLo6cIhbcjpjppvvvlZzge0O2q++ebXBujRkId0uHBIx3O6o+abb36O8wHtjppvvvk1AXo+JNCThUPamNMhmW+++XnOB7Q7'
            'ar755gPaIZlvvvnmA9odNd988wHtkMw333zzlw3o/pBATxUOqSWnO2q++eZnOR/Q7qj55ptfG6DHQh7SB4VD+jCnO2q++ebn'
            'OB/Q7qj55ptfE6CvhgR6onBIm3I6JPPNNz/P+YB2R80333xAOyTzzTfffEC7o+abbz6gHZL55ptv/rIBPRAS6MnCIW3M6Y6a'
            'b775Wc4HtDtqvvnm1wbo8ZCH9H7hkD7K6Y6ab775Oc5vBPpaSKDHC4fUmtMhmW+++XnOB7Q7ar755gPaIZlvvvnmA9odNd98'
            '8wHtkMw333zzAe2Omm+++YB2SOabb775IYEeDAn0ROGQNuV0R8033/ws5xeBngh5SO8VDunjnO6o+eabn+P8RqCvhwR6rHBI'
            'm3M6JPPNNz/P+YB2R80333xAOyTzzTfffEC7o+abbz6gHZL55ptvPqDdUfPNNx/QDsl88803PyTQQyGBHi8cUmtOd9R8883P'
            'cn4j0DeGJgP+tUbH3234SVvriXxOxXzzzc9zPqDdUfPNNx/QDsl88803H9DuqPnmmw9oh2S++eabD2h31HzzzQe0QzLffPPN'
            'B7RDMt98882/ZaA/fefFgH+tnY/f1vCT7lP/5HMq5ptvfp7zAe2Omm+++YB2SOabb775gHZHzTfffEA7JPPNN998QLuj5ptv'
            'PqAdkvnmm28+oB2S+eabbz6g3VHzzTcf0A7JfPPNNx/Q7qj55psPaIdkvvnmmw9oh2S++eabD2h31HzzzQe0QzLffPPNB7Q7'
            'ar755gPaIZlvvvnmA9odNd988wENaHfUfPPNB7RDMt98883/n0B/cmh3wL/WY0/e3vCTM9/9lc+pmG+++XnOB7Q7ar755gPa'
            'IZlvvvnmA9odNd988wHtkMw333zzAe2Omm+++YB2SOabb775gHZI5ptvvvmAdkfNN998QDsk88033/ykgH7gh99WSFIdGnni'
            'bkBLEqABLUmABrQkQANakgANaEmABrQkARrQkgRoQEsCNKAlqcZAV/VLY1u+nXHqkmrR1O71gJYkQANakgANaEmABrQkAVqS'
            'BGhJArQkCdCSJEBLEqAlSYCWJEBLkgAtSQK0JAFakgRoSQK0JAnQkgRoQEtSSKCr+qWxkiRASxKgJUmAliRAS5IALUkCtCQB'
            'WpIEaEkCtCQJ0JIEaEkSoCVJgJYkQEuSAC1JgJYkAVqSBGhJArQkqRzQfmmsJAFakgRoSQK0JAnQkgRoSRKgJUmAliRAS5IA'
            'LUmAliQBWpIEaEkCtCQJ0JIEaEkSoCUJ0JIkQEuSAC1JtexfTaxLt4o31jEAAAAASUVORK5CYII=', 'base64'))
)
SELECT format('d2000000-0000-4000-8000-%s', right(s.id::text, 12))::uuid AS upload_id,
       s.id AS space_id, s.host_id, s.kind, art.bytes
FROM workon.spaces s
JOIN art ON art.kind = s.kind
WHERE s.id::text LIKE 'd1000000-0000-4000-8000-%';

INSERT INTO workon.uploads (id, owner_id, filename, content_type, size, sha256, state, stored_at)
SELECT upload_id, host_id, replace(kind, '_', '-') || '.png', 'image/png', length(bytes), sha256(bytes),
       'stored', timestamptz '2025-02-01 09:00:00+00'
FROM demo_photo
ON CONFLICT DO NOTHING;

INSERT INTO workon.upload_data (upload_id, bytes)
SELECT upload_id, bytes FROM demo_photo
ON CONFLICT DO NOTHING;

INSERT INTO workon.space_photos (upload_id, space_id, position)
SELECT d.upload_id, d.space_id, 0 FROM demo_photo d
WHERE NOT EXISTS (SELECT FROM workon.space_photos p WHERE p.space_id = d.space_id);

-- the stored API document of each space now lists its photo
UPDATE workon.spaces s SET updated_at = s.updated_at
FROM demo_photo d
WHERE s.id = d.space_id AND pg_catalog.json_array_length(s.doc->'photos') = 0;


-- Three blog posts (the Markdown is rendered into html by the table's trigger)
INSERT INTO workon.posts (id, slug, title, excerpt, tags, cover_upload_id, locale, markdown, published_at)
VALUES
    ('d3000000-0000-4000-8000-000000000001', 'five-quiet-desks-in-berlin', 'Five quiet desks in Berlin',
     'Where to get deep work done between Kreuzberg and Prenzlauer Berg.', '{guides,berlin}',
     'd2000000-0000-4000-8000-000000000001', 'en',
     E'Berlin has no shortage of cafés, but a **quiet desk** is another matter.\n\n'
     '## What we looked for\n\n- good light\n- a door that closes\n- coffee within ten steps\n\n'
     'Browse them all on the [spaces page](/api/v1/spaces?city=Berlin).',
     timestamptz '2025-03-03 08:00:00+00'),
    ('d3000000-0000-4000-8000-000000000002', 'travailler-a-paris-le-guide', 'Travailler à Paris : le guide',
     'Bureaux privés, salles de réunion et postes nomades dans Paris.', '{guides,paris}',
     NULL, 'fr',
     E'Paris compte des centaines d''espaces de travail. Voici comment **choisir le bon**.\n\n'
     '1. Réservez à l''heure pour essayer.\n2. Passez à la journée quand vous y êtes bien.\n\n'
     '> Astuce : les salles de réunion se réservent vite le mardi.',
     timestamptz '2025-04-14 07:30:00+00'),
    ('d3000000-0000-4000-8000-000000000003', 'booking-by-the-hour', 'Booking by the hour, paying by the day',
     'How hourly and daily rates work on workon.', '{product}',
     NULL, 'en',
     E'Every space has an **hourly** and a **daily** rate; the price of a booking is set from them when you book, and kept.\n\n'
     'Cancel at least 24 hours before the start and the whole amount comes back; later, half of it.',
     timestamptz '2025-05-20 09:00:00+00')
ON CONFLICT DO NOTHING;

COMMIT;
