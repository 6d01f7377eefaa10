-- wrk script: POST the body file named by the BODY environment variable
-- (bench/make_bodies.py writes them) to the URL's path, as JSON.
--   BODY=score_b64.json wrk -t1 -c16 -d10s -s bench/post.lua http://127.0.0.1:8080/score
local path = os.getenv("BODY")
if not path then
  error("post.lua: set BODY to the request body file")
end
local f = assert(io.open(path, "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"

-- No response() hook: it would run Lua for every answer and make the single
-- wrk thread, not the server, the bottleneck. wrk counts answers >= 400 in
-- errors.status; the BENCH line lets score_bench.sh read the figures.
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH requests %d errors %d status_errors %d rps %.1f p50_ms %.3f p99_ms %.3f\n",
    summary.requests, e.connect + e.read + e.write + e.status + e.timeout, e.status,
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
