-- wrk script of `make bench`'s writes: each request is a line of its own, sent once.
-- Arguments after `--`: <file of requests> <warm-up seconds> <threads>. A line is "METHOD<TAB>path<TAB>If-Match<TAB>body"
-- (If-Match and body may be empty). A write changes what it writes to (an approved member cannot be approved again,
-- a version named by If-Match is used up by the edit), so the lines are dealt out: thread i of n sends lines i,
-- i + n, i + 2n ... in order, and starts again from its first only when it runs out (then the repeats fail, and
-- show as errors). Other headers (Authorization, Content-Type) come from wrk's -H options. Run with one thread
-- per connection (-tN -cN); timing and the JSON line at the end are those of rotate.lua.

local ffi = require("ffi")
ffi.cdef([[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk_id, bench_timespec *tp);
]])
local clock = ffi.new("bench_timespec[1]")
local function now()
  ffi.C.clock_gettime(1, clock) -- CLOCK_MONOTONIC
  return tonumber(clock[0].tv_sec) + tonumber(clock[0].tv_nsec) * 1e-9
end

local requests = {}
local next_request = 1
local warm_end = 0
local sent = nil

latencies = {}
completed = 0
non2xx = 0

local function split(line)
  local fields = {}
  for field in (line .. "\t"):gmatch("([^\t]*)\t") do
    fields[#fields + 1] = field
  end
  return fields
end

function init(args)
  local index, count = thread_index or 0, tonumber(args[3] or "1")
  local n = 0
  for line in io.lines(args[1]) do
    if #line > 0 then
      if n % count == index then
        local f = split(line)
        local headers = {}
        for name, value in pairs(wrk.headers) do
          headers[name] = value
        end
        if f[3] and #f[3] > 0 then
          headers["If-Match"] = f[3]
        end
        local body = nil
        if f[4] and #f[4] > 0 then
          body = f[4]
        end
        requests[#requests + 1] = wrk.format(f[1], f[2], headers, body)
      end
      n = n + 1
    end
  end
  if #requests == 0 then
    error("no requests for thread " .. index .. " in " .. args[1])
  end
  warm_end = now() + tonumber(args[2] or "0")
end

function request()
  sent = now()
  local r = requests[next_request]
  next_request = next_request % #requests + 1
  return r
end

function response(status, headers, body)
  local t = now()
  if t >= warm_end then
    completed = completed + 1
    if status < 200 or status > 299 then
      non2xx = non2xx + 1
    end
    if sent ~= nil and sent >= warm_end then
      latencies[#latencies + 1] = t - sent
    end
  end
  sent = nil
end

local threads = {}

function setup(thread)
  thread:set("thread_index", #threads)
  threads[#threads + 1] = thread
end

function done(summary, latency, requests)
  local all, count, bad = {}, 0, 0
  for _, thread in ipairs(threads) do
    local measured = thread:get("latencies") or {}
    for i = 1, #measured do
      all[#all + 1] = measured[i]
    end
    count = count + (thread:get("completed") or 0)
    bad = bad + (thread:get("non2xx") or 0)
  end
  table.sort(all)
  local function percentile(p)
    if #all == 0 then
      return 0
    end
    return all[math.max(1, math.ceil(p / 100 * #all))]
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"completed": %d, "timed": %d, "duration_us": %d, "non2xx": %d, "connect": %d, "read": %d, ' ..
    '"write": %d, "timeout": %d, "p50_s": %.6f, "p90_s": %.6f, "p99_s": %.6f, "max_s": %.6f}\n',
    count, #all, summary.duration, bad, e.connect, e.read, e.write, e.timeout,
    percentile(50), percentile(90), percentile(99), percentile(100)))
end
