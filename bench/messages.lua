-- bench/messages.lua -- wrk script: POST /api/v1/conversations/{id}/messages by the member
-- of a conversation drawn at random from a file of "conversation token" lines
-- (bench.pairs of bench/realtime.sql), body {"body":"bench"}.
--   wrk -t2 -c32 -d10s --latency -s bench/messages.lua http://127.0.0.1:8080 -- <file>
local pairs_ = {}

function init(args)
  for line in io.lines(args[1]) do
    local conv, token = line:match("^(%S+)%s+(%S+)$")
    if conv then pairs_[#pairs_ + 1] = { "/api/v1/conversations/" .. conv .. "/messages", token } end
  end
  math.randomseed(os.time() + #tostring({}))
end

function request()
  local p = pairs_[math.random(#pairs_)]
  return wrk.format("POST", p[1], {
    ["Authorization"] = "Bearer " .. p[2],
    ["Content-Type"] = "application/json",
  }, '{"body":"bench"}')
end
