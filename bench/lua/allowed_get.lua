-- (a) keep-alive GET from an allowed origin: proxied to the upstream, CORS
-- and security headers added to the response.
local common = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")

wrk.method = "GET"
wrk.headers["Origin"] = "https://app.example.com"

done = common.done
