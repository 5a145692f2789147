--[[
Viva: one rate limit decision, atomically, in one EVALSHA.

Design
  * This script is the Lua twin of viva-core's engine: each `eval_*` function below mirrors the
    `evaluate` method of the Java class of the same name in io.viva.core.internal (TokenBucket,
    Gcra, LeakyBucket, FixedWindow, SlidingWindow, SlidingLog) line for line, and `commit_log`
    mirrors SlidingLog.commit. Change one, change the other; the differential test
    (LimitStoreContract.decidesExactlyAsTheEngine, run by RedisLimitStoreIT) checks they agree.
  * Exactness: Lua 5.1 numbers are doubles. Every value stays an integer of at most 2^53 (the
    engine guarantees it when a Limit is built), where doubles are exact; integer division is
    floor(a / b) corrected by one step (fdiv/cdiv), never a bare `/` or `%`.
  * Time: Redis TIME when ARGV[1] is empty (the default: one clock for every client, so clients
    with skewed clocks still agree), else the caller's clock (ARGV[1], epoch microseconds), which
    makes the decisions the engine's for the same timeline. The time used is returned in the
    reply. Calling TIME before writing needs effects replication: the default since Redis 5, the
    only mode since 7; redis.replicate_commands() asks for it on older servers. PEXPIRE only collects state that has lapsed (its
    resetAt, plus a grace second): a lapsed state decides exactly as no state, so an expiry that
    comes late changes nothing.
  * All keys of one decision share a hash tag, so the script runs in one Redis Cluster slot.
  * Numbers are written with string.format('%.0f'), which is exact for integers (tostring is not).

KEYS: one state key per limit (KEYS[1..n]), then the idempotency hash (KEYS[n + 1]).
ARGV: now ('' for Redis TIME), cost, idempotency TTL (us), n, idempotency id ('' for none), then per limit
      six values: algorithm code and five derived parameters (LimitAlgorithm.parameters() in viva-core):
        1 token_bucket    unit, rate, capacity
        2 gcra            unit, rate, capacity (tau), maxLag
        3 leaky_bucket    unit, rate, capacity
        4 fixed_window    limit, window
        5 sliding_window  limit, window, tick, ticks, scaledLimit
        6 sliding_log     limit, window
State: fixed-size states in a hash, fields a, b, c (= the Java state[0..2]); the sliding log in a
       list [sum, t0, c0, t1, c1, ...], oldest first.
Reply: {replayed, now, n, then per limit: allowed, remaining, availableNumerator,
        availableDenominator, resetAt, retryAfter} - integers only (Redis truncates numbers).
]]

local function fdiv(a, b)
  local q = math.floor(a / b)
  if q * b > a then
    q = q - 1
  elseif (q + 1) * b <= a then
    q = q + 1
  end
  return q
end

local function cdiv(a, b)
  return -fdiv(-a, b)
end

local function fmod(a, b)
  return a - fdiv(a, b) * b
end

local function num(x)
  return string.format('%.0f', x)
end

local GRACE_MS = 1000

-- The out record: allowed (boolean), remaining, an (available numerator), ad (denominator),
-- resetAt, retryAfter, s0, s1, s2 (pending state, as Outcome.s0..s2).

local function eval_token_bucket(p, state, cost, now)
  local unit, rate, cap = p[1], p[2], p[3]
  local out = {}
  local tokens, last
  if state == nil then
    tokens = cap
    last = now
  else
    tokens = state[1]
    last = state[2]
  end
  local t = math.max(now, last)
  local deficit = cap - tokens
  if deficit > 0 then
    local elapsed = t - last
    if elapsed >= cdiv(deficit, rate) then
      tokens = cap
    else
      tokens = tokens + elapsed * rate
    end
  end
  local need = cost * unit
  if need <= tokens then
    tokens = tokens - need
    out.allowed = true
    out.retryAfter = 0
  else
    out.allowed = false
    out.retryAfter = t + cdiv(need - tokens, rate) - now
  end
  out.remaining = fdiv(tokens, unit)
  out.an = tokens
  out.ad = unit
  out.resetAt = t + cdiv(cap - tokens, rate)
  out.s0 = tokens
  out.s1 = t
  return out
end

local function eval_gcra(p, state, cost, now)
  local unit, rate, tau, maxLag = p[1], p[2], p[3], p[4]
  local out = {}
  local tatMicros, tatRem
  if state == nil or state[1] < now then
    tatMicros = now
    tatRem = 0
  else
    tatMicros = state[1]
    tatRem = state[2]
  end
  local lag = math.min(tatMicros - now, maxLag)
  local debt = lag * rate + tatRem
  local after = debt + cost * unit
  if after <= tau then
    out.allowed = true
    out.retryAfter = 0
    out.remaining = fdiv(tau - after, unit)
    out.an = tau - after
    out.ad = unit
    out.resetAt = now + cdiv(after, rate)
    out.s0 = now + fdiv(after, rate)
    out.s1 = fmod(after, rate)
  else
    out.allowed = false
    out.retryAfter = cdiv(after - tau, rate)
    local left = math.max(0, tau - debt)
    out.remaining = fdiv(left, unit)
    out.an = left
    out.ad = unit
    out.resetAt = now + cdiv(debt, rate)
  end
  return out
end

local function eval_leaky_bucket(p, state, cost, now)
  local unit, rate, cap = p[1], p[2], p[3]
  local out = {}
  local level, last
  if state == nil then
    level = 0
    last = now
  else
    level = state[1]
    last = state[2]
  end
  local t = math.max(now, last)
  if level > 0 then
    local elapsed = t - last
    if elapsed >= cdiv(level, rate) then
      level = 0
    else
      level = level - elapsed * rate
    end
  end
  local after = level + cost * unit
  if after <= cap then
    level = after
    out.allowed = true
    out.retryAfter = 0
  else
    out.allowed = false
    out.retryAfter = t + cdiv(after - cap, rate) - now
  end
  out.remaining = fdiv(cap - level, unit)
  out.an = cap - level
  out.ad = unit
  out.resetAt = t + cdiv(level, rate)
  out.s0 = level
  out.s1 = t
  return out
end

local function eval_fixed_window(p, state, cost, now)
  local limit, window = p[1], p[2]
  local out = {}
  local start = now - fmod(now, window)
  local count = 0
  if state ~= nil and state[1] >= start then
    start = state[1]
    count = state[2]
  end
  local after = count + cost
  local wend = start + window
  if after <= limit then
    out.allowed = true
    out.retryAfter = 0
    out.remaining = limit - after
  else
    out.allowed = false
    out.retryAfter = wend - now
    out.remaining = math.max(0, limit - count)
  end
  out.an = out.remaining
  out.ad = 1
  out.resetAt = wend
  out.s0 = start
  out.s1 = after
  return out
end

local function eval_sliding_window(p, state, cost, now)
  local limit, window, tick, n, scaledLimit = p[1], p[2], p[3], p[4], p[5]
  local out = {}
  local start = now - fmod(now, window)
  local t = now
  local previous = 0
  local current = 0
  if state ~= nil then
    local stored = state[1]
    if stored >= start then
      start = stored
      current = state[2]
      previous = state[3]
      t = math.max(now, stored)
    elseif stored == start - window then
      previous = state[2]
    end
  end
  local elapsedTicks = fdiv(t - start, tick)
  local estimate = previous * (n - elapsedTicks) + current * n
  local after = estimate + cost * n
  local nowCurrent
  if after <= scaledLimit then
    out.allowed = true
    out.retryAfter = 0
    out.remaining = fdiv(scaledLimit - after, n)
    out.an = scaledLimit - after
    out.ad = n
    nowCurrent = current + cost
  else
    out.allowed = false
    local target
    if current + cost <= limit then
      local x = n - fdiv((limit - current - cost) * n, previous)
      target = start + x * tick
    else
      local y = math.max(0, n - fdiv((limit - cost) * n, current))
      target = start + window + y * tick
    end
    out.retryAfter = target - now
    local left = math.max(0, scaledLimit - estimate)
    out.remaining = fdiv(left, n)
    out.an = left
    out.ad = n
    nowCurrent = current
  end
  if nowCurrent > 0 then
    out.resetAt = start + 2 * window
  elseif previous > 0 then
    out.resetAt = start + window
  else
    out.resetAt = t
  end
  out.s0 = start
  out.s1 = nowCurrent
  out.s2 = previous
  return out
end

-- The sliding log, read lazily from its list [sum, t0, c0, t1, c1, ...] in pages.
local PAGE = 128

local function open_log(key)
  local len = redis.call('LLEN', key)
  local log = { key = key, size = 0, sum = 0, pages = {} }
  if len > 0 then
    log.size = (len - 1) / 2
    log.sum = tonumber(redis.call('LINDEX', key, 0))
  end
  return log
end

-- Entry i (0-based, oldest first): time, cost.
local function log_entry(log, i)
  local page = fdiv(i, PAGE)
  local items = log.pages[page]
  if items == nil then
    local first = 1 + 2 * page * PAGE
    items = redis.call('LRANGE', log.key, first, first + 2 * PAGE - 1)
    log.pages[page] = items
  end
  local j = 2 * (i - page * PAGE)
  return tonumber(items[j + 1]), tonumber(items[j + 2])
end

local function eval_sliding_log(p, log, cost, now)
  local limit, window = p[1], p[2]
  local out = {}
  local size = log.size
  local t = now
  if size > 0 then
    t = math.max(now, (log_entry(log, size - 1)))
  end
  local cutoff = t - window
  local expired = 0
  local expiredCost = 0
  while expired < size do
    local et, ec = log_entry(log, expired)
    if et > cutoff then
      break
    end
    expiredCost = expiredCost + ec
    expired = expired + 1
  end
  local live = 0
  if size > 0 then
    live = log.sum - expiredCost
  end
  local after = live + cost
  if after <= limit then
    out.allowed = true
    out.retryAfter = 0
    out.remaining = limit - after
    if cost > 0 then
      out.resetAt = t + window
    elseif size > expired then
      out.resetAt = log_entry(log, size - 1) + window
    else
      out.resetAt = t
    end
  else
    out.allowed = false
    local freed = 0
    local target = t
    for i = expired, size - 1 do
      local et, ec = log_entry(log, i)
      freed = freed + ec
      if live - freed + cost <= limit then
        target = et + window
        break
      end
    end
    out.retryAfter = target - now
    out.remaining = math.max(0, limit - live)
    out.resetAt = log_entry(log, size - 1) + window
  end
  out.an = out.remaining
  out.ad = 1
  out.s0 = expired
  out.s1 = expiredCost
  out.s2 = t
  return out
end

-- SlidingLog.commit: drop the expired entries, then merge into the newest or append.
local function commit_log(log, cost, out)
  local key = log.key
  local expired, t = out.s0, out.s2
  local size = log.size - expired
  local sum = log.sum - out.s1
  if log.size == 0 then
    redis.call('DEL', key)
    redis.call('RPUSH', key, num(cost), num(t), num(cost))
    return
  end
  local newestTime, newestCost = log_entry(log, log.size - 1)
  if expired > 0 then
    redis.call('LTRIM', key, 2 * expired, -1)
  end
  if size > 0 and newestTime == t then
    redis.call('LSET', key, -1, num(newestCost + cost))
  else
    redis.call('RPUSH', key, num(t), num(cost))
  end
  redis.call('LSET', key, 0, num(sum + cost))
end

local EVAL = { eval_token_bucket, eval_gcra, eval_leaky_bucket, eval_fixed_window, eval_sliding_window }

local now
if ARGV[1] == '' then
  if redis.replicate_commands then
    redis.replicate_commands()
  end
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
else
  now = tonumber(ARGV[1])
end
local cost = tonumber(ARGV[2])
local ttl = tonumber(ARGV[3])
local n = tonumber(ARGV[4])
local idem = ARGV[5]
local idemKey = KEYS[n + 1]

if idem ~= '' then
  local stored = redis.call('HGET', idemKey, idem)
  if stored then
    local reply = {}
    for v in string.gmatch(stored, '[^,]+') do
      reply[#reply + 1] = tonumber(v)
    end
    -- reply[1] is the replay's expiry; the rest is the original reply.
    if reply[1] > now and reply[3] == n then
      reply[1] = 1
      return reply
    end
  end
end

local codes, params, states, outs = {}, {}, {}, {}
local allowed = true
for i = 1, n do
  local base = 5 + 6 * (i - 1)
  local code = tonumber(ARGV[base + 1])
  local p = {}
  for j = 1, 5 do
    p[j] = tonumber(ARGV[base + 1 + j])
  end
  codes[i] = code
  params[i] = p
  local out
  if code == 6 then
    states[i] = open_log(KEYS[i])
    out = eval_sliding_log(p, states[i], cost, now)
  else
    local raw = redis.call('HMGET', KEYS[i], 'a', 'b', 'c')
    local state = nil
    if raw[1] then
      state = { tonumber(raw[1]), tonumber(raw[2]), tonumber(raw[3] or '0') }
    end
    states[i] = state
    out = EVAL[code](p, state, cost, now)
  end
  outs[i] = out
  allowed = allowed and out.allowed
end

if allowed and cost > 0 then
  for i = 1, n do
    local out = outs[i]
    if codes[i] == 6 then
      commit_log(states[i], cost, out)
    elseif codes[i] == 5 then
      redis.call('HSET', KEYS[i], 'a', num(out.s0), 'b', num(out.s1), 'c', num(out.s2))
    else
      redis.call('HSET', KEYS[i], 'a', num(out.s0), 'b', num(out.s1))
    end
    redis.call('PEXPIRE', KEYS[i], num(math.max(0, cdiv(out.resetAt - now, 1000)) + GRACE_MS))
  end
end

local reply = { 0, now, n }
for i = 1, n do
  local out = outs[i]
  if not allowed and out.allowed then
    -- Nothing was charged, so this limit's numbers are those of a cost-0 look.
    if codes[i] == 6 then
      out = eval_sliding_log(params[i], states[i], 0, now)
    else
      out = EVAL[codes[i]](params[i], states[i], 0, now)
    end
  end
  local base = 3 + 6 * (i - 1)
  reply[base + 1] = out.allowed and 1 or 0
  reply[base + 2] = out.remaining
  reply[base + 3] = out.an
  reply[base + 4] = out.ad
  reply[base + 5] = out.resetAt
  reply[base + 6] = out.retryAfter
end

if idem ~= '' then
  if redis.call('HLEN', idemKey) >= 8 then
    local all = redis.call('HGETALL', idemKey)
    for j = 1, #all, 2 do
      local expiresAt = tonumber(string.match(all[j + 1], '^[^,]+'))
      if expiresAt <= now then
        redis.call('HDEL', idemKey, all[j])
      end
    end
  end
  local parts = { num(now + ttl) }
  for j = 2, #reply do
    parts[j] = num(reply[j])
  end
  redis.call('HSET', idemKey, idem, table.concat(parts, ','))
  local keep = cdiv(ttl, 1000) + GRACE_MS
  if redis.call('PTTL', idemKey) < keep then
    redis.call('PEXPIRE', idemKey, num(keep))
  end
end

return reply
