-- Merges bucket documents (see codec.py) into Redis keys, atomically and at most once.
-- KEYS[1]: the batch's receipt; KEYS[2..n]: the bucket keys.
-- ARGV[1]: seconds the receipt is kept; ARGV[2]: slow queries kept per bucket;
-- then for each bucket key i (from 2): ARGV[2i-1] its expiry in seconds, ARGV[2i] the
-- document to add into it.
-- Returns 1 when merged, 0 when this batch had already been merged (a retried write).

if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then
  return 0
end
local max_slow = tonumber(ARGV[2])

local function add_map(into, from)
  for key, value in pairs(from or {}) do
    into[key] = (into[key] or 0) + value
  end
end

local function max_map(into, from)
  for key, value in pairs(from or {}) do
    if into[key] == nil or value > into[key] then
      into[key] = value
    end
  end
end

local function same_bounds(a, b)
  if #a ~= #b then return false end
  for i = 1, #a do
    if a[i] ~= b[i] then return false end
  end
  return true
end

local function add_bins(into, from)
  local theirs = from.k
  if type(theirs) ~= 'table' or #theirs == 0 then return end
  local ours = into.k
  if type(ours) ~= 'table' or #ours == 0 then
    into.k, into.o = theirs, from.o
    return
  end
  local low = math.min(into.o, from.o)
  local high = math.max(into.o + #ours, from.o + #theirs) - 1
  local dense = {}
  for i = 1, high - low + 1 do dense[i] = 0 end
  for i = 1, #ours do
    local j = into.o - low + i
    dense[j] = dense[j] + ours[i]
  end
  for i = 1, #theirs do
    local j = from.o - low + i
    dense[j] = dense[j] + theirs[i]
  end
  into.k, into.o = dense, low
end

local function add_histogram(into, from)
  -- Buckets reconfigured: the newer series replaces the older one.
  if into == nil or not same_bounds(into.b, from.b) then return from end
  for i = 1, #from.n do into.n[i] = (into.n[i] or 0) + from.n[i] end
  into.c = into.c + from.c
  into.s = into.s + from.s
  if from.z then into.z = (into.z or 0) + from.z end
  add_bins(into, from)
  return into
end

local function add_document(into, from)
  into.c = into.c or {}
  into.m = into.m or {}
  into.h = into.h or {}
  add_map(into.c, from.c)
  max_map(into.m, from.m)
  for key, histogram in pairs(from.h or {}) do
    into.h[key] = add_histogram(into.h[key], histogram)
  end
  if from.q then
    local queries = into.q or {}
    for _, query in ipairs(from.q) do queries[#queries + 1] = query end
    table.sort(queries, function(a, b) return a[1] > b[1] end)
    for i = #queries, max_slow + 1, -1 do queries[i] = nil end
    into.q = queries
  end
  if from.t then
    into.t = into.t or {}
    for key, sql in pairs(from.t) do into.t[key] = sql end
  end
end

for i = 2, #KEYS do
  local document = cjson.decode(ARGV[2 * i])
  local current = redis.call('GET', KEYS[i])
  if current then
    local merged = cjson.decode(current)
    add_document(merged, document)
    document = merged
  end
  redis.call('SET', KEYS[i], cjson.encode(document), 'EX', ARGV[2 * i - 1])
end
return 1
