-- wrk script: POST the serialized ToFunction requests of bench/requests.py, in a loop.
--   wrk -t1 -c16 -d10s --latency -s bench/wrk-statefun.lua http://127.0.0.1:18000/statefun -- <corpus dir>
-- Each thread starts at its own offset of the corpus. done() prints one JSON line.
local requests = {}
local next_index = 1
local path = "/statefun"
local thread_count = 0
local threads = {}

function setup(thread)
  thread:set("id", thread_count)
  thread_count = thread_count + 1
  table.insert(threads, thread)
end

function init(args)
  local dir = args[1]
  local data = assert(io.open(dir .. "/bodies.bin", "rb")):read("*a")
  local position = 1
  local headers = { ["Content-Type"] = "application/octet-stream" }
  for line in assert(io.open(dir .. "/index.txt")):lines() do
    local length = tonumber(line)
    table.insert(requests, wrk.format("POST", path, headers, string.sub(data, position, position + length - 1)))
    position = position + length
  end
  next_index = (id * 7919) % #requests + 1
  bad = 0
end

function request()
  local r = requests[next_index]
  next_index = next_index % #requests + 1
  return r
end

function response(status, headers, body)
  if status ~= 200 then bad = bad + 1 end
end

function done(summary, latency, requests_)
  local bad_total = 0
  for _, thread in ipairs(threads) do bad_total = bad_total + thread:get("bad") end
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "non_200": %d, "socket_errors": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, "mean_us": %.1f}\n',
    summary.requests, summary.duration, bad_total,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
