-- tables.lua SCALE - a table- and string-heavy Lua workload for the benchmark suite.
-- Lua allocates every table, string and closure through its allocator function,
-- which in the stock interpreter is realloc/free: so a preloaded malloc serves it.
-- Prints a RESULT line and a checksum that does not depend on the allocator.
local scale = tonumber(arg[1] or "1") or 1
local n = math.max(1, math.floor(200 * scale))

local function records(count, seed)
  local out = {}
  local x = seed
  for i = 1, count do
    x = (x * 1103515245 + 12345) % 2147483648
    out[i] = {
      id = i,
      name = string.format("user-%d-%x", i, x),
      tags = { tostring(x % 97), tostring(x % 89), "t" .. (x % 13) },
      score = (x % 10007) / 7.0,
    }
  end
  return out
end

local function tree(depth)
  if depth == 0 then return { } end
  return { tree(depth - 1), tree(depth - 1) }
end

local function count(t)
  if t[1] == nil then return 1 end
  return 1 + count(t[1]) + count(t[2])
end

local function task(k)
  local s = 0
  local recs = records(2000, k)
  local by_tag = {}
  for _, r in ipairs(recs) do
    for _, t in ipairs(r.tags) do
      local l = by_tag[t]
      if not l then l = {}; by_tag[t] = l end
      l[#l + 1] = r.id
    end
  end
  for _ in pairs(by_tag) do s = s + 1 end
  table.sort(recs, function(a, b)
    if a.score ~= b.score then return a.score < b.score end
    return a.name < b.name
  end)
  s = s + recs[1].id
  -- string building: concat, gsub, rep, upper, pattern matching
  local parts = {}
  for i, r in ipairs(recs) do parts[i] = r.name end
  local text = table.concat(parts, " ")
  local words = 0
  for w in text:gmatch("%S+") do words = words + 1 end
  s = s + words
  local up = text:sub(1, 20000):upper():gsub("USER", "u")
  s = s + #up
  local acc = ""
  for i = 1, 300 do acc = acc .. tostring(i) .. "," end
  s = s + #acc
  -- a tree built and dropped
  s = s + count(tree(11))
  -- a hash map of many keys, then removed
  local m = {}
  for i = 1, 5000 do m["k" .. i] = { i, i * 2 } end
  for i = 1, 5000, 2 do m["k" .. i] = nil end
  local left = 0
  for _ in pairs(m) do left = left + 1 end
  return s + left
end

local t0 = os.clock()
local total = 0
for k = 1, n do total = total + task(k) end
local secs = os.clock() - t0
print(string.format("RESULT workload=lua threads=1 scale=%g secs=%.4f ops=%d rate=%.6g unit=tasks/s checksum=%d",
  scale, secs, n, n / secs, total))
