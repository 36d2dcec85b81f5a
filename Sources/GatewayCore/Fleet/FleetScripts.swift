import GatewayRedis

/// The Lua scripts that make every fleet decision one atomic step in Redis, never a read and then
/// a write. Live sessions are counted by their idle deadlines: each limit's sorted set scores a
/// session by the time it idles out (`+inf` for one that never does), and a session counts while
/// its deadline is later than now minus the slack (how late a gateway may report a use). So counts
/// stay exact when sessions idle out, with no counter to decrement and no keyspace notification
/// to lose. Time is Redis's own (`TIME`), one clock for the whole fleet.
///
/// Keys, under the prefix P: `P fleet` (hash: id, limits, upstream names), `P all`, `P u:<user>`,
/// `P a:<address>` (sorted sets of digests), `P s:<digest>` (hash: rec, tok, user, addr, idle,
/// last), `P gw` (sorted set: gateway id by last report). Channel `P invalidate` carries the digest
/// of every session deleted, altered or expired. The scripts compute keys from the prefix, which
/// standalone Redis and Sentinel setups allow (Redis Cluster does not; it is not supported).
enum FleetScripts {
    private static let now = "local t = redis.call('TIME'); local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    /// A member counts while its score is above this.
    private static let alive = "local function alive(score, slack) return score and (score == 'inf' or tonumber(score) > now - slack) end\n"
    /// A use now: the session's deadline moves to now + its idle time (never earlier), in every set.
    private static let use = """
        local function use(p, d, score)
            local h = redis.call('HMGET', p..'s:'..d, 'idle', 'user', 'addr')
            local idle = tonumber(h[1])
            if idle and idle > 0 and score ~= 'inf' and now + idle > tonumber(score) then
                redis.call('ZADD', p..'all', now + idle, d)
                if h[2] then redis.call('ZADD', p..'u:'..h[2], now + idle, d) end
                if h[3] and h[3] ~= '' then redis.call('ZADD', p..'a:'..h[3], now + idle, d) end
            end
            redis.call('HSET', p..'s:'..d, 'last', now)
        end

        """

    /// JOIN prefix id maxSessions maxPerAddress maxPerUsername upstreams touchMs keyCheck restoring("1"|"0")
    /// → {"created", id} or {"existing", id, maxSessions, maxPerAddress, maxPerUsername, upstreams, touchMs, keyCheck}
    static let join = RedisScript(now + """
        local p = ARGV[1]
        local f = redis.call('HMGET', p..'fleet', 'id', 'maxSessions', 'maxPerAddress', 'maxPerUsername', 'upstreams', 'touchMs', 'keyCheck')
        if f[1] then return {'existing', f[1], f[2], f[3], f[4], f[5], f[6], f[7]} end
        redis.call('HSET', p..'fleet', 'id', ARGV[2], 'maxSessions', ARGV[3], 'maxPerAddress', ARGV[4], 'maxPerUsername', ARGV[5],
                   'upstreams', ARGV[6], 'touchMs', ARGV[7], 'keyCheck', ARGV[8])
        if ARGV[9] == '1' then redis.call('HSET', p..'fleet', 'restoredAt', now) end
        return {'created', ARGV[2]}
        """)

    /// SETLIMITS prefix maxSessions maxPerAddress maxPerUsername upstreams → fleet id (a reload that changed them)
    static let setLimits = RedisScript("""
        local p = ARGV[1]
        if redis.call('EXISTS', p..'fleet') == 0 then return false end
        redis.call('HSET', p..'fleet', 'maxSessions', ARGV[2], 'maxPerAddress', ARGV[3], 'maxPerUsername', ARGV[4], 'upstreams', ARGV[5])
        return redis.call('HGET', p..'fleet', 'id')
        """)

    /// Stores a session (ARGV: prefix digest rec tok userKey addressKey idleMs) in its hash and in the
    /// three sets, scored by its idle deadline.
    private static let insertSession = """
        local function insert(p, d, user, addr)
            local idle = tonumber(ARGV[7])
            local deadline = '+inf'
            if idle > 0 then deadline = now + idle end
            redis.call('ZADD', p..'all', deadline, d)
            redis.call('ZADD', p..'u:'..user, deadline, d)
            if addr ~= '' then redis.call('ZADD', p..'a:'..addr, deadline, d) end
            redis.call('HSET', p..'s:'..d, 'rec', ARGV[3], 'tok', ARGV[4], 'user', user, 'addr', addr, 'idle', ARGV[7], 'last', now)
        end

        """

    /// ADMIT prefix digest rec tok userKey addressKey('' when exempt) idleMs slackMs
    /// → {"ok", now} | {"total"|"address"|"username", limit} | {"nofleet"}
    static let admit = RedisScript(now + insertSession + """
        local p, d, user, addr = ARGV[1], ARGV[2], ARGV[5], ARGV[6]
        local f = redis.call('HMGET', p..'fleet', 'id', 'maxSessions', 'maxPerAddress', 'maxPerUsername')
        if not f[1] then return {'nofleet'} end
        if redis.call('EXISTS', p..'t:'..d) == 1 then return {'forgotten'} end
        local floor = '(' .. (now - tonumber(ARGV[8]))
        if redis.call('ZCOUNT', p..'all', floor, '+inf') >= tonumber(f[2]) then return {'total', f[2]} end
        if addr ~= '' and redis.call('ZCOUNT', p..'a:'..addr, floor, '+inf') >= tonumber(f[3]) then return {'address', f[3]} end
        if redis.call('ZCOUNT', p..'u:'..user, floor, '+inf') >= tonumber(f[4]) then return {'username', f[4]} end
        insert(p, d, user, addr)
        return {'ok', now}
        """)

    /// FETCH prefix digest slackMs → {fleetId, rec, tok, now}, or {fleetId, ms since the record was
    /// remade after Redis lost its data} when unknown (or idle past its deadline). The fleet id tells
    /// "unknown" from "Redis lost everything"; the age, whether the gateways may still be writing
    /// their sessions back. A fetch is made for a request of the session, so it is a use at once: left
    /// to the next report, it could reach a loaded Redis after the session's deadline.
    static let fetch = RedisScript(now + alive + use + """
        local p, d = ARGV[1], ARGV[2]
        local f = redis.call('HMGET', p..'fleet', 'id', 'restoredAt')
        local age = now - (tonumber(f[2]) or 0)
        local score = redis.call('ZSCORE', p..'all', d)
        if not alive(score, tonumber(ARGV[3])) then return {f[1], age} end
        local h = redis.call('HMGET', p..'s:'..d, 'rec', 'tok')
        if not h[1] then return {f[1], age} end
        use(p, d, score)
        return {f[1], h[1], h[2], now}
        """)

    /// TOUCH prefix slackMs mode("touch"|"check") gatewayId digest... → {fleetId or nil, {missing digests}}
    /// "touch" moves each live session's deadline to now + its idle time (never earlier); "check" only reports.
    static let touch = RedisScript(now + alive + use + """
        local p, slack, mode = ARGV[1], tonumber(ARGV[2]), ARGV[3]
        local missing = {}
        for i = 5, #ARGV do
            local d = ARGV[i]
            local score = redis.call('ZSCORE', p..'all', d)
            if not alive(score, slack) then
                table.insert(missing, d)
            elseif mode == 'touch' then
                use(p, d, score)
            end
        end
        redis.call('ZADD', p..'gw', now, ARGV[4])
        redis.call('ZREMRANGEBYSCORE', p..'gw', '-inf', now - 60000)
        return {redis.call('HGET', p..'fleet', 'id'), missing, redis.call('ZCARD', p..'gw')}
        """)

    /// Ends one session: removed from every set, its hash deleted, the invalidation published and,
    /// when `close`, its upstream session queued to be closed (`P closing`, taken by CLOSES), all in
    /// one step. The queue, not the caller, closes upstream sessions: a script whose caller timed
    /// out still runs when Redis gets to it, and its upstream session must still be closed, once.
    private static let endSession = """
        local function finish(p, d, close)
            local h = redis.call('HMGET', p..'s:'..d, 'rec', 'tok', 'user', 'addr')
            redis.call('ZREM', p..'all', d)
            if h[3] then redis.call('ZREM', p..'u:'..h[3], d) end
            if h[4] and h[4] ~= '' then redis.call('ZREM', p..'a:'..h[4], d) end
            redis.call('DEL', p..'s:'..d)
            redis.call('PUBLISH', p..'invalidate', d)
            if close and h[1] and h[2] then
                redis.call('HSET', p..'c:'..d, 'rec', h[1], 'tok', h[2])
                redis.call('RPUSH', p..'closing', d)
            end
            return h
        end

        """

    /// CLOSES prefix max leaseMs → {{digest, rec, tok}...}: upstream sessions to close. Each is leased
    /// to the caller (`P closing:leased`, scored by the lease's end) until CLOSED acknowledges it; a
    /// lease that runs out (the gateway died, the upstream was unreachable) is handed out again. So an
    /// upstream session is closed at least once, and twice only when a gateway dies between closing
    /// it and saying so (the upstream then answers the second close with 12031).
    static let closes = RedisScript(now + """
        local p, max, lease = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
        local out = {}
        local taken = redis.call('ZRANGEBYSCORE', p..'closing:leased', '-inf', now, 'LIMIT', 0, max)
        while #taken < max do
            local d = redis.call('LPOP', p..'closing')
            if not d then break end
            table.insert(taken, d)
        end
        for _, d in ipairs(taken) do
            local h = redis.call('HMGET', p..'c:'..d, 'rec', 'tok')
            if h[1] and h[2] then
                redis.call('ZADD', p..'closing:leased', now + lease, d)
                table.insert(out, {d, h[1], h[2]})
            else
                redis.call('ZREM', p..'closing:leased', d)
            end
        end
        return out
        """)

    /// CLOSED prefix digest → 1: the upstream session is closed; its lease and record go.
    static let closed = RedisScript("""
        local p, d = ARGV[1], ARGV[2]
        redis.call('ZREM', p..'closing:leased', d)
        redis.call('DEL', p..'c:'..d)
        return 1
        """)

    /// FORGET prefix digest → 1: a login whose ADMIT got no answer. Its upstream session is closed
    /// by the gateway already; whether the ADMIT ran or runs later, the session must not exist: a
    /// tombstone makes a late ADMIT refuse, and a session it already made is removed.
    static let forget = RedisScript(endSession + """
        local p, d = ARGV[1], ARGV[2]
        redis.call('SET', p..'t:'..d, '1', 'EX', 86400)
        if redis.call('EXISTS', p..'s:'..d) == 1 then finish(p, d, false) end
        return 1
        """)

    /// DELETE prefix digest → {rec, tok} or nil (unknown)
    static let delete = RedisScript(endSession + """
        local p, d = ARGV[1], ARGV[2]
        if redis.call('EXISTS', p..'s:'..d) == 0 then return false end
        local h = finish(p, d, true)
        return {h[1], h[2]}
        """)

    /// CLAIM prefix slackMs limit → {fleetId or nil, {{digest, rec, tok}...}}: the sessions idle past their deadline plus the slack.
    static let claim = RedisScript(now + endSession + """
        local p = ARGV[1]
        local ids = redis.call('ZRANGEBYSCORE', p..'all', '-inf', now - tonumber(ARGV[2]), 'LIMIT', 0, tonumber(ARGV[3]))
        local out = {}
        for _, d in ipairs(ids) do
            local h = finish(p, d, true)
            if h[1] then table.insert(out, {d, h[1], h[2]}) end
        end
        return {redis.call('HGET', p..'fleet', 'id'), out}
        """)

    /// ALTER prefix digest rec idleMs slackMs → 1, or nil when the session is gone. The idle time restarts.
    static let alter = RedisScript(now + alive + """
        local p, d = ARGV[1], ARGV[2]
        if not alive(redis.call('ZSCORE', p..'all', d), tonumber(ARGV[5])) then return false end
        local h = redis.call('HMGET', p..'s:'..d, 'user', 'addr')
        local idle = tonumber(ARGV[4])
        local deadline = '+inf'
        if idle > 0 then deadline = now + idle end
        redis.call('ZADD', p..'all', deadline, d)
        if h[1] then redis.call('ZADD', p..'u:'..h[1], deadline, d) end
        if h[2] and h[2] ~= '' then redis.call('ZADD', p..'a:'..h[2], deadline, d) end
        redis.call('HSET', p..'s:'..d, 'rec', ARGV[3], 'idle', ARGV[4], 'last', now)
        redis.call('PUBLISH', p..'invalidate', d)
        return 1
        """)

    /// RESTORE prefix digest rec tok userKey addressKey idleMs → 1 when written, 0 when it exists.
    /// Not limited: the session was within the limits when it was made (a Redis that came back empty).
    static let restore = RedisScript(now + insertSession + """
        local p, d, user, addr = ARGV[1], ARGV[2], ARGV[5], ARGV[6]
        if redis.call('EXISTS', p..'s:'..d) == 1 then return 0 end
        insert(p, d, user, addr)
        return 1
        """)

    /// LIST prefix slackMs userKey('' for all) offset count → {{digest, rec, last}...}, one page,
    /// oldest deadline first; the gateway asks page after page, so no one answer is large.
    static let list = RedisScript(now + """
        local p, user = ARGV[1], ARGV[3]
        local set = p..'all'
        if user ~= '' then set = p..'u:'..user end
        local ids = redis.call('ZRANGEBYSCORE', set, '(' .. (now - tonumber(ARGV[2])), '+inf', 'LIMIT', tonumber(ARGV[4]), tonumber(ARGV[5]))
        local out = {}
        for _, d in ipairs(ids) do
            local h = redis.call('HMGET', p..'s:'..d, 'rec', 'last')
            if h[1] then table.insert(out, {d, h[1], h[2]}) end
        end
        return out
        """)
}
