import { createHash } from 'node:crypto';

/**
 * The server-side half of the Redis backend: every engine write (and every read that must see one consistent
 * state) is ONE Lua script, so it is atomic with respect to every other sidecar sharing the store.
 *
 * Calling convention (all scripts): KEYS[1] = the store's revision key (only for cluster routing), ARGV[1] = the
 * store prefix, ARGV[2] = a JSON "program" built by TypeScript (only numbers, booleans and ASCII strings), ARGV[3..]
 * = binary blobs (keys, values, range ends) the program refers to by 1-based index. A script answers with an array
 * whose first element is JSON metadata and whose other elements are binary blobs (keys and records) the metadata
 * refers to by their 1-based position in that array. Binary data therefore never passes through JSON.
 *
 * Lua 5.1 numbers are doubles: revisions and counts are exact up to 2^53; lease IDs (int64) stay decimal strings.
 * Lua's `<` on strings uses strcoll (locale dependent), so byte order is only ever taken from sorted sets
 * (ZRANGEBYLEX over score-0 members, which is memcmp order) or from `bytes_cmp` below.
 */

/** Shared definitions prepended to every script. */
const LIB = `
local P = ARGV[1]
local K_REV = P .. 'rev'
local K_COMPACT = P .. 'compact'
local K_KV = P .. 'kv'
local K_LIVE = P .. 'live'
local K_ALL = P .. 'all'
local K_LOG = P .. 'log'
local K_LEASES = P .. 'leases'
local K_CHANNEL = P .. 'events'
local function K_HIST(k) return P .. 'h:' .. k end
local function K_LEASE(id) return P .. 'l:' .. id end
local function K_LKEYS(id) return P .. 'lk:' .. id end

local function fmt(n) return string.format('%d', n) end
local function blob(i) return ARGV[i + 2] end

local function cur_rev() return tonumber(redis.call('GET', K_REV) or '1') end
-- -1 = never compacted (as etcd's compactMainRev), so compact(0) is allowed once.
local function compact_rev() return tonumber(redis.call('GET', K_COMPACT) or '-1') end

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Output: out[1] is the JSON metadata, blobs follow.
local out = { '' }
local out_bytes = 0
local function push(b) out[#out + 1] = b; out_bytes = out_bytes + #b; return #out end
local function finish(meta) out[1] = cjson.encode(meta); return out end
local function fail(code) return { cjson.encode({ err = code }) } end

-- Records: 'create,mod,version,lease|value'; tombstones 'D,mod|'.
local function parse(rec)
  if string.sub(rec, 1, 1) == 'D' then return nil end
  local i = string.find(rec, '|', 1, true)
  local c, m, v, l = string.match(string.sub(rec, 1, i - 1), '^(%d+),(%d+),(%d+),(%-?%d+)$')
  return { c = tonumber(c), m = tonumber(m), v = tonumber(v), l = l, val = string.sub(rec, i + 1), hl = i }
end
local function make_rec(c, m, v, l, val) return fmt(c) .. ',' .. fmt(m) .. ',' .. fmt(v) .. ',' .. l .. '|' .. val end
-- The record without its value (keys_only).
local function head_only(rec) local i = string.find(rec, '|', 1, true); return string.sub(rec, 1, i) end

-- Byte-wise comparison (memcmp order); -1, 0 or 1.
local function bytes_cmp(a, b)
  if a == b then return 0 end
  local n = math.min(#a, #b)
  local i = 1
  while i <= n do
    local j = math.min(i + 63, n)
    if string.sub(a, i, j) ~= string.sub(b, i, j) then
      for x = i, j do
        local ca, cb = string.byte(a, x), string.byte(b, x)
        if ca ~= cb then if ca < cb then return -1 else return 1 end end
      end
    end
    i = j + 1
  end
  if #a < #b then return -1 else return 1 end
end
-- Signed decimal int64 strings compared numerically without going through doubles.
local function int_cmp(a, b)
  if a == b then return 0 end
  local na, nb = string.sub(a, 1, 1) == '-', string.sub(b, 1, 1) == '-'
  if na ~= nb then if na then return -1 else return 1 end end
  local r
  if #a ~= #b then
    if #a < #b then r = -1 else r = 1 end
  else
    r = bytes_cmp(a, b)
  end
  if na then r = -r end
  return r
end
local function num_cmp(a, b) if a < b then return -1 elseif a > b then return 1 else return 0 end end

-- Lex bounds of [key, end): e = 0 single key, -1 open end ('\\0'), else the blob index of the end.
local function lex_max(e) if e == -1 then return '+' else return '(' .. blob(e) end end

-- Live keys of a range at the latest revision, in byte order (at most lim when lim > 0).
local function live_keys(k, e, lim)
  if e == 0 then
    if redis.call('HEXISTS', K_KV, k) == 1 then return { k } else return {} end
  end
  if lim > 0 then return redis.call('ZRANGEBYLEX', K_LIVE, '[' .. k, lex_max(e), 'LIMIT', 0, lim) end
  return redis.call('ZRANGEBYLEX', K_LIVE, '[' .. k, lex_max(e))
end
local function live_count(k, e)
  if e == 0 then return redis.call('HEXISTS', K_KV, k) end
  return redis.call('ZLEXCOUNT', K_LIVE, '[' .. k, lex_max(e))
end
-- Records of keys at the latest revision (HMGET in chunks so unpack stays small).
local function latest_records(keys)
  local recs = {}
  local i = 1
  while i <= #keys do
    local j = math.min(i + 499, #keys)
    local got = redis.call('HMGET', K_KV, unpack(keys, i, j))
    for x = 1, #got do recs[#recs + 1] = got[x] end
    i = j + 1
  end
  return recs
end
-- History members are '<sub>:<record>': sub = the change's index in its revision, 8 digits, so that when one key
-- changes twice in a revision (a put and a from-key delete in one txn, as etcd allows) the later change sorts last.
local function hist_member(sub, rec) return string.format('%08d', sub) .. ':' .. rec end
local function hist_rec(m) return string.sub(m, string.find(m, ':', 1, true) + 1) end
-- A key's record at revision r from its history; nil when absent or deleted.
local function rec_at(k, r)
  local got = redis.call('ZREVRANGEBYSCORE', K_HIST(k), r, '-inf', 'LIMIT', 0, 1)
  if got[1] == nil then return nil end
  local rec = hist_rec(got[1])
  if string.sub(rec, 1, 1) == 'D' then return nil end
  return rec
end

-- Range: returns { count, kvs = flat list of blob indices key, record, ... }.
-- rv = 0: latest. fetch > 0: return at most fetch records (count stays exact).
local function do_range(q, latest)
  local k = blob(q.k)
  local kv = {}
  local count
  if latest then
    count = live_count(k, q.e)
    if q.co then return { n = count, kv = kv } end
    local keys = live_keys(k, q.e, q.lim)
    local recs = latest_records(keys)
    for x = 1, #keys do
      local rec = recs[x]
      if q.ko then rec = head_only(rec) end
      kv[#kv + 1] = push(keys[x]); kv[#kv + 1] = push(rec)
    end
    return { n = count, kv = kv }
  end
  local keys
  if q.e == 0 then keys = { k } else keys = redis.call('ZRANGEBYLEX', K_ALL, '[' .. k, lex_max(q.e)) end
  count = 0
  for x = 1, #keys do
    local rec = rec_at(keys[x], q.rv)
    if rec then
      count = count + 1
      if not q.co and (q.lim == 0 or count <= q.lim) then
        if q.ko then rec = head_only(rec) end
        kv[#kv + 1] = push(keys[x]); kv[#kv + 1] = push(rec)
      end
    end
  end
  return { n = count, kv = kv }
end

-- Write state of one revision: st = { rev, pre, changed, log = {} }.
local function new_state(pre) return { rev = pre + 1, pre = pre, changed = false, log = {} } end
local function log_event(st, t, k) st.log[#st.log + 1] = t .. fmt(#k) .. ':' .. k end

-- Commit a revision when something changed: bump the counter, append the log, announce it.
local function commit(st, now)
  if not st.changed then return st.pre end
  redis.call('SET', K_REV, fmt(st.rev))
  redis.call('ZADD', K_LOG, st.rev, fmt(st.rev) .. '|' .. fmt(now) .. '|' .. table.concat(st.log))
  redis.call('PUBLISH', K_CHANNEL, fmt(st.rev))
  return st.rev
end

-- Delete one live key at st.rev (its lease is detached unless skip_lease).
local function delete_key(st, k, old, skip_lease)
  local o = parse(old)
  redis.call('HDEL', K_KV, k)
  redis.call('ZREM', K_LIVE, k)
  redis.call('ZADD', K_HIST(k), st.rev, hist_member(#st.log, 'D,' .. fmt(st.rev) .. '|'))
  if o.l ~= '0' and not skip_lease then redis.call('ZREM', K_LKEYS(o.l), k) end
  log_event(st, 'D', k)
  st.changed = true
end

-- Revoke a lease: delete its keys (byte order) at one revision, remove the lease.
local function revoke_lease(st, id)
  local keys = redis.call('ZRANGE', K_LKEYS(id), 0, -1)
  for x = 1, #keys do
    local old = redis.call('HGET', K_KV, keys[x])
    if old then delete_key(st, keys[x], old, true) end
  end
  redis.call('DEL', K_LKEYS(id), K_LEASE(id))
  redis.call('ZREM', K_LEASES, id)
end
`;

/** Txn (also used for Put and DeleteRange, which are one-op txns). Program: { c, s, f } (see redis-engine.ts). */
const TXN = `
local prog = cjson.decode(ARGV[2])
local pre = cur_rev()
local comp = compact_rev()

-- Compare evaluation against the pre-txn state (etcd applyCompare).
local function check(r, res)
  if r == '=' then return res == 0 elseif r == '!' then return res ~= 0 elseif r == '>' then return res > 0 end
  return res < 0
end
local function compare_one(c, o)
  local res
  if c.t == 'V' then res = num_cmp(o and o.v or 0, c.n)
  elseif c.t == 'C' then res = num_cmp(o and o.c or 0, c.n)
  elseif c.t == 'M' then res = num_cmp(o and o.m or 0, c.n)
  elseif c.t == 'L' then res = int_cmp(o and o.l or '0', c.l)
  else
    local given = ''
    if c.b > 0 then given = blob(c.b) end
    res = bytes_cmp(o.val, given)
  end
  return check(c.r, res)
end
local function eval_compare(c)
  local keys = live_keys(blob(c.k), c.e, 0)
  if #keys == 0 then
    if c.t == 'A' then return false end
    return compare_one(c, nil)
  end
  local recs = latest_records(keys)
  for x = 1, #recs do
    if not compare_one(c, parse(recs[x])) then return false end
  end
  return true
end
-- The branch taken by a txn and, recursively, by the txns nested in it: all decided before any write.
local function choose(t)
  local ok = true
  for _, c in ipairs(t.c) do
    if not eval_compare(c) then ok = false; break end
  end
  local ops = ok and t.s or t.f
  local sub = {}
  for i, op in ipairs(ops) do
    if op.o == 't' then sub[i] = choose(op) end
  end
  return { ok = ok, ops = ops, sub = sub }
end
-- Checks of the chosen path against the pre-txn state (etcd checkRequests): nothing is written on failure.
local function precheck(path)
  for i, op in ipairs(path.ops) do
    if op.o == 'r' then
      -- etcd checkRequestRange: a negative revision is below an unset compaction point (-1) only when < -1.
      if op.rv > pre then return 'FUTURE_REV' end
      if op.rv ~= 0 and op.rv < comp then return 'COMPACTED' end
    elseif op.o == 'p' then
      if (op.iv or op.il) and redis.call('HEXISTS', K_KV, blob(op.k)) == 0 then return 'KEY_NOT_FOUND' end
      if op.l ~= '0' and redis.call('EXISTS', K_LEASE(op.l)) == 0 then return 'LEASE_NOT_FOUND' end
    elseif op.o == 't' then
      local e = precheck(path.sub[i])
      if e then return e end
    end
  end
  return nil
end

local path = choose(prog)
local perr = precheck(path)
if perr then return fail(perr) end

local st = new_state(pre)
local function hdr() if st.changed then return st.rev else return pre end end

local function do_put(op)
  local k = blob(op.k)
  local old = redis.call('HGET', K_KV, k)
  local o = nil
  if old then o = parse(old) end
  local val = ''
  if op.iv then val = o.val elseif op.v > 0 then val = blob(op.v) end
  local lease = op.l
  if op.il then lease = o.l end
  local c, v = st.rev, 1
  if o then c = o.c; v = o.v + 1 end
  local rec = make_rec(c, st.rev, v, lease, val)
  redis.call('HSET', K_KV, k, rec)
  if not o then
    redis.call('ZADD', K_LIVE, 0, k)
    redis.call('ZADD', K_ALL, 0, k)
  end
  redis.call('ZADD', K_HIST(k), st.rev, hist_member(#st.log, rec))
  if o and o.l ~= '0' and o.l ~= lease then redis.call('ZREM', K_LKEYS(o.l), k) end
  if lease ~= '0' then redis.call('ZADD', K_LKEYS(lease), 0, k) end
  log_event(st, 'P', k)
  st.changed = true
  local r = { o = 'p', h = st.rev }
  if op.pk and old then r.pv = { push(k), push(old) } end
  return r
end

local function do_delete(op)
  local k = blob(op.k)
  local keys = live_keys(k, op.e, 0)
  local recs = latest_records(keys)
  local pv = {}
  for x = 1, #keys do
    if op.pk then pv[#pv + 1] = push(keys[x]); pv[#pv + 1] = push(recs[x]) end
    delete_key(st, keys[x], recs[x], false)
  end
  return { o = 'd', h = hdr(), n = #keys, pv = pv }
end

local function exec(p)
  local rs = {}
  for i, op in ipairs(p.ops) do
    if op.o == 'r' then
      -- Latest state when asked for it, or for the pre-txn revision before this txn wrote anything.
      local r = do_range(op, op.rv <= 0 or (op.rv == pre and not st.changed))
      r.o = 'r'; r.h = hdr()
      rs[i] = r
    elseif op.o == 'p' then rs[i] = do_put(op)
    elseif op.o == 'd' then rs[i] = do_delete(op)
    else
      local sub = p.sub[i]
      local inner = exec(sub)
      rs[i] = { o = 't', h = hdr(), ok = sub.ok, r = inner }
    end
  end
  return rs
end

local rs = exec(path)
local now = 0
if st.changed then now = now_ms() end
local rev = commit(st, now)
return finish({ rev = rev, ok = path.ok, r = rs })
`;

/** Range. Program: { k, e, rv, lim, ko, co }. */
const RANGE = `
local q = cjson.decode(ARGV[2])
local cur = cur_rev()
if q.rv > cur then return fail('FUTURE_REV') end
if q.rv > 0 and q.rv < compact_rev() then return fail('COMPACTED') end
local latest = q.rv == 0 or q.rv == cur
local r = do_range(q, latest)
r.rev = cur
return finish(r)
`;

/** Compact. Program: { rev }. Removes history older than rev (keeps the newest version <= rev unless deleted). */
const COMPACT = `
local q = cjson.decode(ARGV[2])
local cur = cur_rev()
local comp = compact_rev()
if q.rev <= comp then return fail('COMPACTED') end
if q.rev > cur then return fail('FUTURE_REV') end
-- Only keys changed since the previous compaction can hold versions that this one drops.
local from = comp
if from < 0 then from = 0 end
local entries = redis.call('ZRANGEBYSCORE', K_LOG, from, q.rev)
local seen = {}
for _, m in ipairs(entries) do
  local p1 = string.find(m, '|', 1, true)
  local pos = string.find(m, '|', p1 + 1, true) + 1
  while pos <= #m do
    local c = string.find(m, ':', pos + 1, true)
    local len = tonumber(string.sub(m, pos + 1, c - 1))
    local k = string.sub(m, c + 1, c + len)
    pos = c + len + 1
    if not seen[k] then
      seen[k] = true
      local h = K_HIST(k)
      local got = redis.call('ZREVRANGEBYSCORE', h, q.rev, '-inf', 'WITHSCORES', 'LIMIT', 0, 1)
      if got[1] then
        redis.call('ZREMRANGEBYSCORE', h, '-inf', '(' .. got[2])
        -- Earlier changes of the key in that same revision go too: only the newest version <= R stays.
        for _, x in ipairs(redis.call('ZRANGEBYSCORE', h, got[2], got[2])) do
          if x ~= got[1] then redis.call('ZREM', h, x) end
        end
        if string.sub(hist_rec(got[1]), 1, 1) == 'D' then redis.call('ZREM', h, got[1]) end
        if redis.call('EXISTS', h) == 0 then redis.call('ZREM', K_ALL, k) end
      end
    end
  end
end
redis.call('ZREMRANGEBYSCORE', K_LOG, '-inf', '(' .. fmt(q.rev))
redis.call('SET', K_COMPACT, fmt(q.rev))
return finish({ rev = cur })
`;

/**
 * Read the revision log for watchers. Program: { from, to, max, maxBytes, pv }: at most max revisions in [from, to]
 * (to = 0: up to the current revision), stopping after a revision once maxBytes of blobs are collected, with
 * previous records when pv. Answers { rev, comp, to, upto, revs = [{ r, ev }] } where upto is the revision the
 * log was read through and ev is a flat list: type ('P'/'D'), key blob, record blob (0 for DELETE), prev blob
 * (0 = none).
 */
const READ_LOG = `
local q = cjson.decode(ARGV[2])
local cur = cur_rev()
local comp = compact_rev()
if comp < 0 then comp = 0 end
if q.from < comp then return finish({ rev = cur, comp = comp, compacted = true }) end
local to = q.to
if to == 0 or to > cur then to = cur end
local revs = {}
-- The log has been read through 'upto' (inclusive); less than 'to' when a count or size limit cut the read.
local upto = to
if q.from <= to then
  local entries = redis.call('ZRANGEBYSCORE', K_LOG, q.from, to, 'LIMIT', 0, q.max)
  for i, m in ipairs(entries) do
    local p1 = string.find(m, '|', 1, true)
    local r = tonumber(string.sub(m, 1, p1 - 1))
    local pos = string.find(m, '|', p1 + 1, true) + 1
    local ev = {}
    local sub = -1
    while pos <= #m do
      sub = sub + 1
      local t = string.sub(m, pos, pos)
      local c = string.find(m, ':', pos + 1, true)
      local len = tonumber(string.sub(m, pos + 1, c - 1))
      local k = string.sub(m, c + 1, c + len)
      pos = c + len + 1
      local recb = 0
      local isnew = false
      -- Compaction at R drops a tombstone at R (etcd keeps the newest version <= R unless it is deleted).
      local skip = t == 'D' and r == comp
      if t == 'P' then
        -- This change's own record (the key may have changed twice at r); gone if compaction superseded it.
        local want = hist_member(sub, '')
        for _, x in ipairs(redis.call('ZRANGEBYSCORE', K_HIST(k), r, r)) do
          if string.sub(x, 1, #want) == want then
            local rec = hist_rec(x)
            recb = push(rec)
            isnew = string.match(rec, '^(%d+),') == fmt(r)
          end
        end
      end
      local prevb = 0
      if q.pv and not isnew and not skip then
        local prev = rec_at(k, r - 1)
        if prev then prevb = push(prev) end
      end
      if not skip then ev[#ev + 1] = t; ev[#ev + 1] = push(k); ev[#ev + 1] = recb; ev[#ev + 1] = prevb end
    end
    revs[#revs + 1] = { r = r, ev = ev }
    -- Whole revisions only; a read stops once it carries maxBytes (big values would make huge replies).
    if i == #entries and #entries >= q.max then upto = r end
    if out_bytes >= q.maxBytes and i < #entries then upto = r; break end
  end
end
return finish({ rev = cur, comp = comp, revs = revs, to = to, upto = upto })
`;

/** Lease grant. Program: { id, ttl }. */
const LEASE_GRANT = `
local q = cjson.decode(ARGV[2])
local k = K_LEASE(q.id)
if redis.call('EXISTS', k) == 1 then return fail('LEASE_EXISTS') end
local exp = now_ms() + q.ttl * 1000
redis.call('HSET', k, 'ttl', fmt(q.ttl), 'exp', fmt(exp))
redis.call('ZADD', K_LEASES, exp, q.id)
return finish({ rev = cur_rev() })
`;

/**
 * Lease revoke / keepalive / time-to-live. Program: { id, op = 'revoke' | 'keepalive' | 'ttl', keys }.
 * A lease found past its expiry is revoked right here (atomically, so exactly once), as the expiry loop would.
 */
const LEASE_OP = `
local q = cjson.decode(ARGV[2])
local k = K_LEASE(q.id)
local pre = cur_rev()
local info = redis.call('HMGET', k, 'ttl', 'exp')
if not info[1] then
  if q.op == 'revoke' then return fail('LEASE_NOT_FOUND') end
  return finish({ rev = pre, ttl = -1 })
end
local ttl, exp = tonumber(info[1]), tonumber(info[2])
local now = now_ms()
if q.op == 'revoke' or exp <= now then
  local st = new_state(pre)
  revoke_lease(st, q.id)
  local rev = commit(st, now)
  if q.op == 'revoke' then return finish({ rev = rev }) end
  return finish({ rev = rev, ttl = -1 })
end
if q.op == 'keepalive' then
  exp = now + ttl * 1000
  redis.call('HSET', k, 'exp', fmt(exp))
  redis.call('ZADD', K_LEASES, exp, q.id)
  return finish({ rev = pre, ttl = ttl })
end
local keys = {}
if q.keys then
  for _, key in ipairs(redis.call('ZRANGE', K_LKEYS(q.id), 0, -1)) do keys[#keys + 1] = push(key) end
end
return finish({ rev = pre, ttl = math.floor((exp - now) / 1000), granted = ttl, keys = keys })
`;

/** Leases by soonest expiry. */
const LEASE_LIST = `
local ids = redis.call('ZRANGE', K_LEASES, 0, -1)
return finish({ rev = cur_rev(), ids = ids })
`;

/**
 * Expire leases whose time has come (Redis clock). Program: { max }. Each lease is revoked at its own revision;
 * a lease another sidecar expired first is simply no longer found, so each expiry deletes its keys exactly once.
 */
const EXPIRE = `
local q = cjson.decode(ARGV[2])
local now = now_ms()
local ids = redis.call('ZRANGEBYSCORE', K_LEASES, '-inf', now, 'LIMIT', 0, q.max)
local rev = cur_rev()
for _, id in ipairs(ids) do
  local st = new_state(rev)
  revoke_lease(st, id)
  rev = commit(st, now)
end
return finish({ rev = rev, n = #ids })
`;

/**
 * Status, plus what the auto-compactor needs. Program: { keepMs }: when > 0, also the newest revision committed at
 * least keepMs ago (Redis clock).
 */
const STATUS = `
local q = cjson.decode(ARGV[2])
local r = { rev = cur_rev(), comp = compact_rev(), keys = redis.call('ZCARD', K_LIVE), old = 0 }
if q.keepMs > 0 then
  local limit = now_ms() - q.keepMs
  -- Log members are 'rev|time|...' and commit times grow with revisions: binary search for the newest revision
  -- committed at or before the limit.
  local function first_from(rev)
    local got = redis.call('ZRANGEBYSCORE', K_LOG, rev, '+inf', 'LIMIT', 0, 1)
    if not got[1] then return nil end
    local rs, ts = string.match(got[1], '^(%d+)|(%d+)|')
    return tonumber(rs), tonumber(ts)
  end
  local lo, hi = math.max(r.comp, 0), r.rev
  while lo <= hi do
    local mid = math.floor((lo + hi) / 2)
    local rs, ts = first_from(mid)
    if rs ~= nil and ts <= limit then r.old = rs; lo = rs + 1 else hi = mid - 1 end
  end
end
return finish(r)
`;

/** A script with its SHA1 (for EVALSHA). */
export interface LuaScript {
  readonly name: string;
  readonly source: string;
  readonly sha: string;
}

function script(name: string, body: string): LuaScript {
  const source = LIB + body;
  return { name, source, sha: createHash('sha1').update(source).digest('hex') };
}

/** Every script of the backend. */
export const SCRIPTS = {
  txn: script('txn', TXN),
  range: script('range', RANGE),
  compact: script('compact', COMPACT),
  readLog: script('readLog', READ_LOG),
  leaseGrant: script('leaseGrant', LEASE_GRANT),
  leaseOp: script('leaseOp', LEASE_OP),
  leaseList: script('leaseList', LEASE_LIST),
  expire: script('expire', EXPIRE),
  status: script('status', STATUS),
} as const;

/** Name of one of the backend's scripts. */
export type ScriptName = keyof typeof SCRIPTS;
