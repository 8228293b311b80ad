-- wrk script: GET with the admin token; counts answers other than 200.
-- Environment: IOLOG_TOKEN (admin token). With IOLOG_DETAIL_COUNT set, each request instead
-- reads the detail of a random seeded generation (seed-0 … seed-(COUNT-1)) of IOLOG_ACCOUNT.
local token = os.getenv("IOLOG_TOKEN")
local account = os.getenv("IOLOG_ACCOUNT") or "demo-org"
local count = tonumber(os.getenv("IOLOG_DETAIL_COUNT") or "")
unexpected = 0
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  math.randomseed(os.time() + #threads)
end

function request()
  local path = nil
  if count then path = "/v1/accounts/" .. account .. "/generations/seed-" .. math.random(0, count - 1) end
  return wrk.format("GET", path, {["Authorization"] = "Bearer " .. token})
end

function response(status, headers, body)
  if status ~= 200 then unexpected = unexpected + 1 end
end

function done(summary, latency, requests)
  local bad = 0
  for _, thread in ipairs(threads) do bad = bad + thread:get("unexpected") end
  io.write(string.format("RESULT requests=%d unexpected=%d\n", summary.requests, bad))
end
