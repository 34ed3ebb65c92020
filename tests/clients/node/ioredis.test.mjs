// ioredis usage checks: each test is what an application does with the client, asserted.
// REDIS_PORT names the server (the reference or the proxy); the harness empties it first.
import assert from "node:assert/strict"
import {after, before, test} from "node:test"
import {Redis} from "ioredis"

const port = Number(process.env.REDIS_PORT)
let redis

before(async () => {
  redis = new Redis({host: "127.0.0.1", port, maxRetriesPerRequest: 1, lazyConnect: true})
  await redis.connect()
})
after(() => redis.disconnect())

test("set and get a string, with and without an expiry", async () => {
  assert.equal(await redis.set("io:a", "1"), "OK")
  assert.equal(await redis.get("io:a"), "1")
  assert.equal(await redis.set("io:b", "2", "EX", 100), "OK")
  assert.deepEqual(await redis.mget("io:a", "io:b", "io:none"), ["1", "2", null])
  assert.equal(await redis.get("io:none"), null)
  assert.equal(await redis.del("io:a", "io:b", "io:none"), 2)
})

test("expire, ttl and persist", async () => {
  await redis.set("io:exp", "v")
  assert.equal(await redis.ttl("io:exp"), -1)
  assert.equal(await redis.expire("io:exp", 100), 1)
  const ttl = await redis.ttl("io:exp")
  assert.ok(ttl > 90 && ttl <= 100, `ttl ${ttl}`)
  assert.equal(await redis.persist("io:exp"), 1)
  assert.equal(await redis.ttl("io:exp"), -1)
  assert.equal(await redis.pexpire("io:exp", 1), 1)
  assert.equal(await redis.expire("io:missing", 10), 0)
})

test("incr, incrby and decr", async () => {
  assert.equal(await redis.incr("io:n"), 1)
  assert.equal(await redis.incrby("io:n", 10), 11)
  assert.equal(await redis.decr("io:n"), 10)
  assert.equal(await redis.get("io:n"), "10")
})

test("multi/exec runs the queued commands and answers their replies", async () => {
  const replies = await redis.multi().set("io:m", "x").get("io:m").append("io:m", "y").exec()
  assert.deepEqual(replies, [[null, "OK"], [null, "x"], [null, 2]])
  assert.equal(await redis.get("io:m"), "xy")
})

test("a pipeline without a transaction", async () => {
  const replies = await redis.pipeline().set("io:p", "1").get("io:p").strlen("io:p").exec()
  assert.deepEqual(replies, [[null, "OK"], [null, "1"], [null, 1]])
})

test("watch makes exec answer null when the key changed", async () => {
  const other = new Redis({host: "127.0.0.1", port})
  try {
    await redis.set("io:w", "0")
    await redis.watch("io:w")
    await other.set("io:w", "changed")
    assert.equal(await redis.multi().set("io:w", "mine").exec(), null)
    assert.equal(await redis.get("io:w"), "changed")
  } finally {
    other.disconnect()
  }
})

test("scanStream finds every key of a pattern", async () => {
  const keys = Array.from({length: 50}, (_, i) => `io:scan:${i}`)
  await redis.mset(...keys.flatMap((key) => [key, "v"]))
  const found = new Set()
  for await (const batch of redis.scanStream({match: "io:scan:*", count: 10})) {
    batch.forEach((key) => found.add(key))
  }
  assert.deepEqual([...found].sort(), [...keys].sort())
})

test("eval runs a script over its keys and arguments", async () => {
  await redis.set("io:e", "old")
  const script = "redis.call('SET', KEYS[1], ARGV[1]); return redis.call('GET', KEYS[1])"
  assert.equal(await redis.eval(script, 1, "io:e", "new"), "new")
  redis.defineCommand("swap", {numberOfKeys: 1, lua: "return redis.call('GETSET', KEYS[1], ARGV[1])"})
  assert.equal(await redis.swap("io:e", "newer"), "new")
})
