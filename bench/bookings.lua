-- bench/bookings.lua -- wrk script: POST /api/v1/bookings, each request on a slot no other
-- request uses (same numbering as bench/bookings.sql and bench.booking_body):
-- slot k is space (k % #spaces) from t0 + floor(k / #spaces) * 30 minutes, 30 minutes long.
-- Thread t of T sends slots base + n * T + t, n = 0, 1, 2, ...
--   wrk -t2 -c32 -d10s --latency -s bench/bookings.lua http://127.0.0.1:8080/api/v1/bookings \
--     -- <jwt> <base> <threads> <t0, Unix seconds> <file of space ids, one a line>
local threads_made = 0

function setup(thread)
  thread:set("tid", threads_made)
  threads_made = threads_made + 1
end

local path, headers, base, nthreads, t0, spaces, nspaces
local n = 0

function init(args)
  path = wrk.path
  headers = { ["Authorization"] = "Bearer " .. args[1], ["Content-Type"] = "application/json" }
  base = tonumber(args[2])
  nthreads = tonumber(args[3])
  t0 = tonumber(args[4])
  spaces = {}
  for line in io.lines(args[5]) do
    if line ~= "" then spaces[#spaces + 1] = line end
  end
  nspaces = #spaces
end

local function iso(t)
  return os.date("!%Y-%m-%dT%H:%M:%SZ", t)
end

function request()
  local k = base + n * nthreads + tid
  n = n + 1
  local starts = t0 + math.floor(k / nspaces) * 1800
  local body = string.format('{"space_id":"%s","starts_at":"%s","ends_at":"%s"}',
    spaces[(k % nspaces) + 1], iso(starts), iso(starts + 1800))
  return wrk.format("POST", path, headers, body)
end
