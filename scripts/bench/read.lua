-- wrk script: GET generation detail for a random seeded id (seed-0 … seed-(IOLOG_COUNT-1)).
-- Environment: IOLOG_TOKEN (admin token), IOLOG_ACCOUNT, IOLOG_COUNT.
local token = os.getenv("IOLOG_TOKEN")
local account = os.getenv("IOLOG_ACCOUNT") or "demo-org"
local count = tonumber(os.getenv("IOLOG_COUNT"))
unexpected = 0
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  math.randomseed(os.time() + #threads)
end

function request()
  local id = "seed-" .. math.random(0, count - 1)
  return wrk.format("GET", "/v1/accounts/" .. account .. "/generations/" .. id, {["Authorization"] = "Bearer " .. token})
end

function response(status, headers, body)
  if status ~= 200 then unexpected = unexpected + 1 end
end

function done(summary, latency, requests)
  local bad = 0
  for _, thread in ipairs(threads) do bad = bad + thread:get("unexpected") end
  io.write(string.format("RESULT requests=%d unexpected=%d\n", summary.requests, bad))
end
