-- wrk script of `make bench`: rotates request paths and measures only the window after the warm-up.
-- Arguments after `--`: <file with one path per line> <method> <file holding the body, or ""> <warm-up seconds>.
-- Headers (Authorization, Content-Type) come from wrk's -H options. Run it with as many threads as connections
-- (-tN -cN): each thread then has one connection, whose request() and response() alternate, so each request's
-- latency is timed here, and requests started during the warm-up are left out. One JSON line is printed at the end.

dofile(debug.getinfo(1, "S").source:sub(2):match("^(.*/)") .. "timing.lua") -- now(), response(), setup(), done()

local paths = {}
local method = "GET"
local body = nil

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
