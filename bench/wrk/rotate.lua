-- wrk script of `make bench`: rotates request paths and measures only the window after the warm-up.
-- Arguments after `--`: <file with one path per line> <method> <file holding the body, or ""> <warm-up seconds>.
-- Headers (Authorization, Content-Type) come from wrk's -H options. Run it with as many threads as connections
-- (-tN -cN): each thread then has one connection, whose request() and response() alternate, so each request's
-- latency is timed here, and requests started during the warm-up are left out. One JSON line is printed at the end.

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

local paths = {}
local method = "GET"
local body = nil
local warm_end = 0
local sent = nil

-- Per-thread results, read by done() through thread:get().
latencies = {}
completed = 0
non2xx = 0

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then
      paths[#paths + 1] = line
    end
  end
  if #paths == 0 then
    error("no paths in " .. args[1])
  end
  method = args[2] or "GET"
  if args[3] and #args[3] > 0 then
    local file = assert(io.open(args[3], "rb"))
    body = file:read("*a")
    file:close()
  end
  math.randomseed(os.time() + math.floor((now() % 1) * 1000000))
  warm_end = now() + tonumber(args[4] or "0")
end

function request()
  sent = now()
  return wrk.format(method, paths[math.random(#paths)], nil, body)
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
