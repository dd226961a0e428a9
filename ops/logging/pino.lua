-- Fluent Bit Lua filter: turns a pino JSON log record into what Kibana expects. pino writes the
-- level as a number and the time as epoch milliseconds; Elasticsearch gets the level's name and
-- the record's own time as @timestamp. A record that is not pino's passes through unchanged.
local LEVEL_NAMES = { [10] = "trace", [20] = "debug", [30] = "info", [40] = "warn", [50] = "error", [60] = "fatal" }

function pino_to_ecs(tag, timestamp, record)
  if record["msg"] == nil and record["level"] == nil then
    return 0, timestamp, record
  end
  local name = LEVEL_NAMES[record["level"]]
  if name ~= nil then
    record["level"] = name
  end
  if record["msg"] ~= nil then
    record["message"] = record["msg"]
    record["msg"] = nil
  end
  local time = record["time"]
  if type(time) == "number" then
    record["time"] = nil
    return 1, time / 1000, record
  end
  return 2, timestamp, record
end
