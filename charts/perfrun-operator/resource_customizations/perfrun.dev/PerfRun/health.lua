-- Argo CD health check for perfrun.dev/PerfRun (Argo CD's layout: health.lua beside
-- health_test.yaml and testdata/). Uses only Lua's base and table libraries, which is what
-- Argo CD opens for a check configured in argocd-cm (no string library).
--   Pending..Analyzing, or a spec the operator has not observed yet -> Progressing
--   Succeeded with verdict Passed                                  -> Healthy
--   Failed, Inconclusive, Invalid, Expired, Aborted (Stalled=True)   -> Degraded, the run's message
local hs = {status = "Progressing", message = "Waiting for the operator to take up the run"}
local status = obj.status
if status == nil or status.phase == nil then
  return hs
end

local generation = obj.metadata.generation
local observed = status.observedGeneration
if generation ~= nil and (observed == nil or observed < generation) then
  hs.message = "Waiting for the operator to observe generation " .. generation
  return hs
end

local conditions = {}
if status.conditions ~= nil then
  for _, c in ipairs(status.conditions) do
    conditions[c.type] = c
  end
end

local function describe(prefix)
  local text = prefix
  if status.message ~= nil and status.message ~= "" then
    text = text .. ": " .. status.message
  end
  return text
end

local phase = status.phase
local verdict = status.verdict
local stalled = conditions["Stalled"]
local ready = conditions["Ready"]

if phase == "Succeeded" and (verdict == nil or verdict == "Passed") then
  if ready == nil or ready.status == "True" then
    hs.status = "Healthy"
    hs.message = describe("Passed")
    return hs
  end
end

local failed = {Failed = true, Expired = true, Aborted = true, Invalid = true, Succeeded = true}
if failed[phase] or (stalled ~= nil and stalled.status == "True") then
  -- "Failed (GatesFailed)", "Failed (Inconclusive)", "Expired": what ended it, once
  local why = nil
  if verdict ~= nil and verdict ~= "Passed" and verdict ~= phase then
    why = verdict
  elseif stalled ~= nil and stalled.status == "True" and stalled.reason ~= nil and stalled.reason ~= phase then
    why = stalled.reason
  end
  local what = phase
  if why ~= nil then
    what = phase .. " (" .. why .. ")"
  end
  hs.status = "Degraded"
  hs.message = describe(what)
  return hs
end

hs.message = describe(phase)
return hs
