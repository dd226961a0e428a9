-- lua5.4 ops/logging/pino.test.lua (npm run check:ops runs it): the filter's contract.
dofile((arg[0]:match("(.*/)") or "./") .. "pino.lua")

local failures = 0
local function expect(name, actual, expected)
  if actual ~= expected then
    failures = failures + 1
    print(string.format("not ok - %s: expected %s, got %s", name, tostring(expected), tostring(actual)))
  else
    print("ok - " .. name)
  end
end

local code, timestamp, record = pino_to_ecs("kube.x", 5.0,
  { level = 30, time = 1764000000123, msg = "relay caught up", role = "relay" })
expect("a pino record changes time and record", code, 1)
expect("the time is pino's, in seconds", timestamp, 1764000000.123)
expect("the level gets its name", record["level"], "info")
expect("msg becomes message", record["message"], "relay caught up")
expect("msg is gone", record["msg"], nil)
expect("time is gone from the record", record["time"], nil)
expect("other fields stay", record["role"], "relay")

code, timestamp, record = pino_to_ecs("kube.x", 5.0, { level = 50, msg = "no time" })
expect("without a time only the record changes", code, 2)
expect("the runtime's timestamp stays", timestamp, 5.0)
expect("error level named", record["level"], "error")

code, timestamp, record = pino_to_ecs("kube.x", 5.0, { log = "plain text from another program" })
expect("a record that is not pino's is left alone", code, 0)
expect("its log stays", record["log"], "plain text from another program")

if failures > 0 then
  print(failures .. " failed")
  os.exit(1)
end
print("pino.lua: all passed")
