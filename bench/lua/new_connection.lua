-- (d) allowed-origin GET with "Connection: close": one TCP connection per
-- request (accept + close cost at the gateway; its upstream side stays pooled).
local common = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")

wrk.method = "GET"
wrk.headers["Origin"] = "https://app.example.com"
wrk.headers["Connection"] = "close"

done = common.done
