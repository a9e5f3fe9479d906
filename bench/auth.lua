-- bench/auth.lua -- wrk script: every request carries Authorization: Bearer <token>.
--   wrk -t2 -c32 -d10s --latency -s bench/auth.lua http://127.0.0.1:8080/api/v1/me -- <jwt>
function init(args)
  wrk.headers["Authorization"] = "Bearer " .. args[1]
end
