-- wrk script: POST generations to iolog with unique ids.
-- Environment: IOLOG_TOKEN (gateway token), IOLOG_ACCOUNT, IOLOG_CREATED_AT, IOLOG_BATCH (items per request, 0 = single),
-- IOLOG_ID_PREFIX (keeps ids apart when several wrk processes run at once), IOLOG_DELAY_MS (pacing),
-- IOLOG_ACK_DIR (single POSTs: each thread appends the id of every 201 to a file there; scripts/soak).
local threads = {}
local counter = 0

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

local token = os.getenv("IOLOG_TOKEN")
local account = os.getenv("IOLOG_ACCOUNT") or "demo-org"
local created = os.getenv("IOLOG_CREATED_AT")
local batch = tonumber(os.getenv("IOLOG_BATCH") or "0")
local prefix = (os.getenv("IOLOG_ID_PREFIX") or "") .. tostring(os.time())
unexpected = 0 -- global: done() reads it with thread:get

-- About 1.5 KB of prompt and 0.5 KB of completion, like a short chat turn.
local prompt = '[{"role":"system","content":"You are a careful assistant. Answer briefly and cite sources when you can."},'
  .. '{"role":"user","content":"' .. string.rep("Summarise the attached meeting notes in three bullet points. ", 20) .. '"}]'
local completion = '{"role":"assistant","content":"' .. string.rep("- A decision was made to ship on Friday. ", 12) .. '"}'

local function generation(id)
  return '{"id":"' .. id .. '","account_id":"' .. account .. '","user_id":"user_42","created_at":"' .. created
    .. '","model":"openai/gpt-4o","provider":"OpenAI","routing":{"region":"global"},'
    .. '"usage":{"prompt_tokens":1200,"completion_tokens":350},"cost_usd":0.004125,"latency_ms":812,'
    .. '"finish_reason":"stop","prompt":' .. prompt .. ',"completion":' .. completion .. '}'
end

function request()
  counter = counter + 1
  local base = "bench-" .. prefix .. "-" .. tid .. "-" .. counter
  local headers = {["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json"}
  if batch > 0 then
    local items = {}
    for i = 1, batch do items[i] = generation(base .. "-" .. i) end
    return wrk.format("POST", "/v1/generations/batch", headers, '{"generations":[' .. table.concat(items, ",") .. ']}')
  end
  return wrk.format("POST", "/v1/generations", headers, generation(base))
end

-- IOLOG_DELAY_MS paces each connection: one request, then this pause (the rate-limited run).
local pause = tonumber(os.getenv("IOLOG_DELAY_MS") or "")
if pause then
  function delay() return pause end
end

local ack_dir = os.getenv("IOLOG_ACK_DIR")
local acks = nil

function init(args)
  if ack_dir then acks = io.open(ack_dir .. "/ack-" .. prefix .. "-" .. tid, "a") end
end

function response(status, headers, body)
  if acks and status == 201 then
    local id = string.match(body, '"id":"([^"]+)"')
    if id then acks:write(id, "\n"); acks:flush() end
  end
  local expected = (batch > 0 and status == 200) or (batch == 0 and status == 201)
  if not expected or (batch > 0 and string.find(body, '"error"', 1, true)) then unexpected = unexpected + 1 end
end

function done(summary, latency, requests)
  local bad = 0
  for _, thread in ipairs(threads) do bad = bad + thread:get("unexpected") end
  io.write(string.format("RESULT requests=%d unexpected=%d\n", summary.requests, bad))
end
