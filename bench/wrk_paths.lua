-- wrk script of bench/wrk.py: GET a random path of a file (one path a line) on every request,
-- and print the figures as one JSON line at the end.
--   wrk -t1 -cN -dSs -s bench/wrk_paths.lua http://127.0.0.1:PORT -- PATHS_FILE SEED
-- Requests are formatted once in init(), as wrk's SCRIPTING advises, so the client stays cheap.

local requests = {}

function init(args)
  for path in io.lines(args[1]) do
    requests[#requests + 1] = wrk.format("GET", path)
  end
  math.randomseed(tonumber(args[2]))
end

function request()
  return requests[math.random(#requests)]
end

function done(summary, latency, _)
  local e = summary.errors
  io.write(string.format(
    '{"duration_us": %d, "requests": %d, "status_errors": %d, "socket_errors": %d, ' ..
    '"p50_us": %d, "p95_us": %d, "p99_us": %d}\n',
    summary.duration, summary.requests, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
