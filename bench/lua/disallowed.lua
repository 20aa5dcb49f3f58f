-- (c) GET from an origin that is not on the allowlist: answered 403 by the
-- gateway. wrk counts every 403 as a "status error"; that is expected here.
local common = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")

wrk.method = "GET"
wrk.headers["Origin"] = "https://evil.example.net"

done = common.done
