-- wrk script: POST N request bodies in turn, built once from a template.
--   TEMPLATE=direct.json N=1024 wrk -t1 -c64 -d10s -s bench/update.lua http://127.0.0.1:8080/route/update
-- Every "@I@" in the file named by TEMPLATE is replaced by 0 .. N-1, giving N
-- bodies (users u-@I@, events ev-@I@, ...); without the placeholder, or with
-- N=1, one body is sent over and over. The whole HTTP requests are formatted
-- in init(), so request() only steps an index: per-request Lua string work
-- would make wrk's single thread, not the server, the bottleneck.
local template_path = os.getenv("TEMPLATE")
if not template_path then
  error("update.lua: set TEMPLATE to the request body template file")
end
local n = tonumber(os.getenv("N") or "1")
if not n or n < 1 or n ~= math.floor(n) then
  error("update.lua: N must be a positive integer")
end

local requests = {}
local next_index = 1

function init(args)
  local f = assert(io.open(template_path, "rb"))
  local template = f:read("*a")
  f:close()
  local headers = { ["Content-Type"] = "application/json" }
  for i = 0, n - 1 do
    -- gsub with a function: the replacement text is taken literally
    local body = template:gsub("@I@", function() return tostring(i) end)
    requests[i + 1] = wrk.format("POST", nil, headers, body)
  end
  -- threads start at different places so that -tN does not send the same
  -- user from every thread at the same moment
  next_index = ((wrk_thread_index or 0) * 97) % n + 1
end

function setup(thread)
  -- wrk runs setup() in the main Lua state before each thread's init()
  thread_count = (thread_count or 0) + 1
  thread:set("wrk_thread_index", thread_count - 1)
end

function request()
  local r = requests[next_index]
  next_index = next_index + 1
  if next_index > n then next_index = 1 end
  return r
end

-- No response() hook (see post.lua). wrk counts answers >= 400 in
-- errors.status; update_bench.sh reads this line.
function done(summary, latency, requests_done)
  local e = summary.errors
  io.write(string.format("BENCH requests %d errors %d status_errors %d rps %.1f p50_ms %.3f p99_ms %.3f seconds %.3f socket_errors %d\n",
    summary.requests, e.connect + e.read + e.write + e.status + e.timeout, e.status,
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.duration / 1e6, e.connect + e.read + e.write + e.timeout))
end
