-- bench/login.lua -- wrk script: every request is POST /api/v1/auth/login with the bench
-- member's e-mail and password (a password check: scrypt in a backend), so wrk -cN keeps N
-- logins in flight.
--   wrk -t1 -c8 -d10s -s bench/login.lua http://127.0.0.1:8080/api/v1/auth/login -- <email> <password>
function init(args)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.body = string.format('{"email":"%s","password":"%s"}', args[1], args[2])
end
