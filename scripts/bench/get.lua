-- wrk script: GET one URL with the admin token; counts answers other than 200.
-- Environment: IOLOG_TOKEN (admin token).
local token = os.getenv("IOLOG_TOKEN")
unexpected = 0
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function request()
  return wrk.format("GET", nil, {["Authorization"] = "Bearer " .. token})
end

function response(status, headers, body)
  if status ~= 200 then unexpected = unexpected + 1 end
end

function done(summary, latency, requests)
  local bad = 0
  for _, thread in ipairs(threads) do bad = bad + thread:get("unexpected") end
  io.write(string.format("RESULT requests=%d unexpected=%d\n", summary.requests, bad))
end
