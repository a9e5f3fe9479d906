-- bench/tokens.lua -- wrk script: each request carries the next token of a file (one a line),
-- so that a shim sees as many different tokens as the file holds.
--   wrk -t2 -c32 -d10s -s bench/tokens.lua http://127.0.0.1:8080/api/v1/me -- tokens.txt
local tokens = {}
local i = 0

function init(args)
  for line in io.lines(args[1]) do
    tokens[#tokens + 1] = line
  end
  -- each wrk thread starts at its own place in the file
  i = math.random(#tokens)
end

function request()
  i = i % #tokens + 1
  return wrk.format(nil, nil, { Authorization = "Bearer " .. tokens[i] })
end
