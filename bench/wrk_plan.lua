-- wrk script of bench/http_paths.py (--generator wrk): replays a plan of distinct requests
-- over wrk's closed-loop keep-alive connections and records every request's latency.
--
--   wrk -t1 -c<clients> -d<timeout>s -s bench/wrk_plan.lua <base url> -- PLAN OUT MEASURED
--
-- PLAN: one request per line, tab-separated: method, path, bearer token ("-" for none),
-- X-Request-ID, JSON body ("-" for none). The first MEASURED lines are measured; the rest is
-- the tail that keeps every connection busy until the last measured answer (a closed loop
-- with a constant number of clients), sent but not measured.
-- OUT: "elapsed_us <n>", then one line per measured answer: index, status, latency in
-- microseconds (monotonic clock, from just before the request is written to the parsed
-- answer), then "sample <index> <status> <body>" for the first non-2xx bodies.
-- At the MEASURED-th answer the thread stops and OUT appears; the harness then ends wrk with
-- SIGTERM. One thread only (-t1).

local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
  int clock_gettime(int clk_id, bench_timespec *tp);
]]
local ts = ffi.new("bench_timespec")
local function now_us()
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) * 1000000 + tonumber(ts.tv_nsec) / 1000
end

local requests = {}   -- prepared raw requests, in plan order
local index_of = {}   -- X-Request-ID -> plan index
local started = {}    -- plan index -> start time (us)
-- Globals (not locals): done() reads them from the thread with thread:get().
results = {}          -- measured answers: "index status latency"
samples = {}
first_us = nil
last_us = nil
finished = false
out_path = nil
local next_req, answered, measured, unmatched = 1, 0, 0, 0
local threads = {}

function setup(thread)
  threads[#threads + 1] = thread
end

local function split(line)
  local fields = {}
  for field in (line .. "\t"):gmatch("([^\t]*)\t") do
    fields[#fields + 1] = field
  end
  return fields
end

function init(args)
  local plan_path = args[1]
  out_path = args[2]
  measured = tonumber(args[3])
  for line in io.lines(plan_path) do
    local f = split(line)
    local headers = { ["X-Request-ID"] = f[4], ["Host"] = wrk.host .. ":" .. wrk.port }
    if f[3] ~= "-" then headers["Authorization"] = "Bearer " .. f[3] end
    local body = nil
    if f[5] ~= "-" then
      body = f[5]
      headers["Content-Type"] = "application/json"
    end
    requests[#requests + 1] = wrk.format(f[1], f[2], headers, body)
    index_of[f[4]] = #requests
  end
end

local function write_out(path, t0, t1, res, smp, complete)
  -- Written aside, then renamed: the harness waits for OUT to appear and then stops wrk
  -- (SIGTERM; wrk itself would run to its -d duration).
  local out = assert(io.open(path .. ".part", "w"))
  out:write("complete ", complete and "1" or "0", "\n")
  out:write("elapsed_us ", string.format("%.0f", (t1 or 0) - (t0 or 0)), "\n")
  for _, r in ipairs(res) do out:write(r, "\n") end
  for _, s in ipairs(smp) do out:write(s, "\n") end
  out:close()
  assert(os.rename(path .. ".part", path))
end

local verified = false

function request()
  if not verified then
    -- wrk calls request() once before connecting, to check the request (pipelining): that
    -- call sends nothing, so it must not use up a planned request.
    verified = true
    return requests[1]
  end
  local i = next_req
  if i > #requests then
    -- The plan's tail is exhausted (it holds one request per client, so only a stop that
    -- did not happen gets here): repeat the last one, unmeasured; stop once that went on for
    -- as many requests as were measured (OUT says incomplete).
    i = #requests
    if next_req > #requests + measured and not finished then
      finished = true
      write_out(out_path, first_us, now_us(), results, samples, false)
      wrk.thread:stop()
    end
  end
  next_req = next_req + 1
  local t = now_us()
  if first_us == nil then first_us = t end
  started[i] = t
  return requests[i]
end

local function finish()
  finished = true
  write_out(out_path, first_us, now_us(), results, samples, true)
  wrk.thread:stop()
end

-- When the run timed out (-d) before the last measured answer: write what was answered;
-- the harness counts the rest as transport errors (wrk's socket errors are printed too).
function done(summary, latency, reqs)
  for _, thread in ipairs(threads) do
    if not thread:get("finished") then
      write_out(thread:get("out_path"), thread:get("first_us"), thread:get("last_us"),
        thread:get("results") or {}, thread:get("samples") or {}, false)
    end
  end
end

function response(status, headers, body)
  local id = headers["X-Request-ID"] or headers["x-request-id"]
  local i = id and index_of[id]
  if i == nil then
    -- An answer without a planned X-Request-ID: the harness cannot time it. Give up rather
    -- than loop on the tail (OUT says incomplete; the unanswered count as errors).
    unmatched = unmatched + 1
    if unmatched > measured then
      finished = true
      write_out(out_path, first_us, now_us(), results, samples, false)
      wrk.thread:stop()
    end
    return
  end
  if i > measured or started[i] == nil then return end
  last_us = now_us()
  local latency = last_us - started[i]
  started[i] = nil
  answered = answered + 1
  results[#results + 1] = string.format("%d %d %.0f", i, status, latency)
  if (status < 200 or status > 299) and #samples < 5 then
    samples[#samples + 1] = string.format("sample %d %d %s", i, status,
      (body or ""):sub(1, 500):gsub("[\r\n\t]", " "))
  end
  if answered >= measured then finish() end
end
