-- Shared by the scenario scripts: done() prints one machine-readable line
-- that bench/lib/bench.py parses. Latencies are in microseconds.
local M = {}

local function int(x)
  return math.floor(tonumber(x) or 0)
end

function M.done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_RESULT {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"connect_errors":%d,"read_errors":%d,"write_errors":%d,' ..
    '"status_errors":%d,"timeouts":%d,' ..
    '"lat_min_us":%d,"lat_mean_us":%.1f,"lat_max_us":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"p999_us":%d}\n',
    int(summary.requests), int(summary.duration), int(summary.bytes),
    int(e.connect), int(e.read), int(e.write), int(e.status), int(e.timeout),
    int(latency.min), tonumber(latency.mean) or 0, int(latency.max),
    int(latency:percentile(50)), int(latency:percentile(90)),
    int(latency:percentile(99)), int(latency:percentile(99.9))))
end

return M
