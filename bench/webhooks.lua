-- bench/webhooks.lua -- wrk script: POST signed Stripe webhook deliveries from a file made by
-- bench/webhooks.mjs (`<Stripe-Signature>\t<body>` a line), in file order, each thread
-- starting at its own offset and wrapping around at the end.
--   wrk -t2 -c32 -d10s --latency -s bench/webhooks.lua http://127.0.0.1:8080/api/webhooks/stripe \
--     -- <deliveries file> <threads>
local threads_made = 0

function setup(thread)
  thread:set("tid", threads_made)
  threads_made = threads_made + 1
end

local requests = {}
local i = 0

function init(args)
  for line in io.lines(args[1]) do
    local sig, body = line:match("^([^\t]*)\t(.*)$")
    if sig then
      requests[#requests + 1] = wrk.format("POST", wrk.path,
        { ["Content-Type"] = "application/json; charset=utf-8", ["Stripe-Signature"] = sig }, body)
    end
  end
  i = math.floor(#requests * tid / tonumber(args[2]))
end

function request()
  i = i % #requests + 1
  return requests[i]
end
