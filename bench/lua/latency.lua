-- (e) allowed-origin GET over a single keep-alive connection: one request in
-- flight at a time, so the latency is the per-hop cost, not queueing.
local common = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")

wrk.method = "GET"
wrk.headers["Origin"] = "https://app.example.com"

done = common.done
