-- The timing shared by make bench's wrk scripts (rotate.lua, writes.lua), loaded by each with dofile: a script
-- sets `sent = now()` in request() and `warm_end` in init(); responses after the warm-up are counted, the latency of
-- each request both sent and answered after it is kept, and done() prints one JSON line for bench/loadgen.py.
-- setup() numbers the threads (`thread_index`, from 0) for scripts that deal requests out.

local ffi = require("ffi")
ffi.cdef([[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk_id, bench_timespec *tp);
]])
local clock = ffi.new("bench_timespec[1]")
function now()
  ffi.C.clock_gettime(1, clock) -- CLOCK_MONOTONIC
  return tonumber(clock[0].tv_sec) + tonumber(clock[0].tv_nsec) * 1e-9
end

warm_end = 0
sent = nil

-- Per-thread results, read by done() through thread:get().
latencies = {}
completed = 0
non2xx = 0

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
