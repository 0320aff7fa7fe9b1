-- wrk script of `make bench`'s writes: each request is a line of its own, sent once.
-- Arguments after `--`: <file of requests> <warm-up seconds> <threads>. A line is "METHOD<TAB>path<TAB>If-Match<TAB>body"
-- (If-Match and body may be empty). A write changes what it writes to (an approved member cannot be approved again,
-- a version named by If-Match is used up by the edit), so the lines are dealt out: thread i of n sends lines i,
-- i + n, i + 2n ... in order, and starts again from its first only when it runs out (then the repeats fail, and
-- show as errors). Other headers (Authorization, Content-Type) come from wrk's -H options. Run with one thread
-- per connection (-tN -cN); timing and the JSON line at the end: timing.lua.

dofile(debug.getinfo(1, "S").source:sub(2):match("^(.*/)") .. "timing.lua") -- now(), response(), setup(), done()

local requests = {}
local next_request = 1
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
