// node-redis usage checks, in RESP2 and RESP3: each test is what an application does with the
// client, asserted. REDIS_PORT names the server; the harness empties it first.
import assert from "node:assert/strict"
import {after, before, test} from "node:test"
import {createClient} from "redis"

const url = `redis://127.0.0.1:${process.env.REDIS_PORT}`

for (const RESP of [2, 3]) {
  let client
  const name = (what) => `RESP${RESP} ${what}`
  const key = (what) => `nr${RESP}:${what}`

  before(async () => {
    client = createClient({url, RESP})
    await client.connect()
  })
  after(() => client.destroy())

  test(name("set and get a string, with and without an expiry"), async () => {
    assert.equal(await client.set(key("a"), "1"), "OK")
    assert.equal(await client.get(key("a")), "1")
    assert.equal(await client.set(key("b"), "2", {EX: 100}), "OK")
    assert.deepEqual(await client.mGet([key("a"), key("b"), key("none")]), ["1", "2", null])
    assert.equal(await client.set(key("a"), "3", {NX: true}), null)
    assert.equal(await client.del([key("a"), key("b")]), 2)
  })

  test(name("expire and ttl"), async () => {
    await client.set(key("exp"), "v")
    assert.equal(await client.expire(key("exp"), 100), 1)
    const ttl = await client.ttl(key("exp"))
    assert.ok(ttl > 90 && ttl <= 100, `ttl ${ttl}`)
    assert.equal(await client.expire(key("exp"), 10, "GT"), 0)
    assert.equal(await client.persist(key("exp")), 1)
    assert.equal(await client.ttl(key("exp")), -1)
  })

  test(name("incr and incrBy"), async () => {
    assert.equal(await client.incr(key("n")), 1)
    assert.equal(await client.incrBy(key("n"), 5), 6)
    assert.equal(await client.decrBy(key("n"), 2), 4)
  })

  test(name("multi/exec runs the queued commands and answers their replies"), async () => {
    const replies = await client.multi().set(key("m"), "x").get(key("m")).append(key("m"), "y").exec()
    assert.deepEqual(replies, ["OK", "x", 2])
    assert.equal(await client.get(key("m")), "xy")
  })

  test(name("a pipeline without a transaction"), async () => {
    const replies = await client.multi().set(key("p"), "1").get(key("p")).execAsPipeline()
    assert.deepEqual(replies, ["OK", "1"])
  })

  test(name("scanIterator finds every key of a pattern"), async () => {
    const keys = Array.from({length: 50}, (_, i) => key(`scan:${i}`))
    await client.mSet(keys.map((k) => [k, "v"]))
    const found = new Set()
    for await (const batch of client.scanIterator({MATCH: key("scan:*"), COUNT: 10})) {
      for (const k of [batch].flat()) found.add(k)
    }
    assert.deepEqual([...found].sort(), [...keys].sort())
  })

  test(name("eval runs a script over its keys and arguments"), async () => {
    const script = "redis.call('SET', KEYS[1], ARGV[1]); return redis.call('GET', KEYS[1])"
    assert.equal(await client.eval(script, {keys: [key("e")], arguments: ["new"]}), "new")
  })
}
