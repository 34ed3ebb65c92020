// connect-redis as an Express session store, over node-redis. The store's own lifecycle test
// (connect-redis's index_test.ts, in JavaScript), then sessions through a real Express app: a
// session saved, read, touched (its key's expiry renewed), destroyed. REDIS_PORT names the
// server; the harness empties it first.
import assert from "node:assert/strict"
import {after, before, test} from "node:test"
import {RedisStore} from "connect-redis"
import express from "express"
import session, {Cookie} from "express-session"
import {createClient} from "redis"

const url = `redis://127.0.0.1:${process.env.REDIS_PORT}`
let client

before(async () => {
  client = createClient({url})
  await client.connect()
})
after(() => client.destroy())

test("the store's lifecycle: set, get, touch, length, ids, all, destroy, clear", async () => {
  const store = new RedisStore({client})
  await store.clear()
  const sess = {foo: "bar", cookie: {originalMaxAge: null}}
  await store.set("123", sess)
  assert.deepEqual(await store.get("123"), sess)
  assert.ok((await client.ttl("sess:123")) >= 86399)

  let expires = new Date(Date.now() + 60 * 1000)
  await store.set("456", {cookie: {originalMaxAge: null, expires}})
  assert.ok((await client.ttl("sess:456")) <= 60)
  const expires2 = new Date(Date.now() + 90 * 1000)
  await store.touch("456", {cookie: {originalMaxAge: null, expires: expires2}})
  assert.ok((await client.ttl("sess:456")) > 60)

  assert.equal(await store.length(), 2)
  assert.deepEqual((await store.ids()).sort(), ["123", "456"])
  const all = (await store.all()).sort((a, b) => (a.id > b.id ? 1 : -1))
  assert.deepEqual(all, [
    {id: "123", foo: "bar", cookie: {originalMaxAge: null}},
    {id: "456", cookie: {originalMaxAge: null, expires: expires.toISOString()}},
  ])
  await store.destroy("456")
  assert.equal(await store.length(), 1)
  await store.clear()
  assert.equal(await store.length(), 0)

  const cookie = new Cookie()
  for (let sid = 0; sid < 100; sid++) {
    cookie.expires = new Date(Date.now() + 10000)
    await store.set("s" + sid, {cookie})
  }
  assert.equal(await store.length(), 100)
  await store.clear()

  expires = new Date(Date.now() - 60 * 1000) // in the past: the set deletes the session
  await store.set("789", {cookie: {originalMaxAge: null, expires}})
  assert.equal(await store.length(), 0)
})

test("express sessions: saved, read, touched, destroyed", async () => {
  const app = express()
  app.use(
    session({
      store: new RedisStore({client, prefix: "app:"}),
      secret: "a secret",
      resave: false,
      saveUninitialized: false,
      cookie: {maxAge: 60 * 1000},
    }),
  )
  app.get("/login", (req, res) => {
    req.session.user = "ann"
    res.send("ok")
  })
  app.get("/whoami", (req, res) => res.send(req.session.user ?? "nobody"))
  app.get("/logout", (req, res) => req.session.destroy(() => res.send("bye")))
  const server = app.listen(0, "127.0.0.1")
  await new Promise((resolve) => server.once("listening", resolve))
  const base = `http://127.0.0.1:${server.address().port}`
  try {
    const login = await fetch(`${base}/login`)
    const cookie = login.headers.get("set-cookie").split(";")[0]
    const sid = decodeURIComponent(cookie.split("=")[1]).slice(2).split(".")[0]
    const stored = JSON.parse(await client.get(`app:${sid}`))
    assert.equal(stored.user, "ann")
    assert.ok((await client.ttl(`app:${sid}`)) <= 60)

    await client.expire(`app:${sid}`, 1000)
    const who = await fetch(`${base}/whoami`, {headers: {cookie}})
    assert.equal(await who.text(), "ann")
    const ttl = await client.ttl(`app:${sid}`)
    assert.ok(ttl > 50 && ttl <= 60, `the touch renews the expiry to the cookie's: ttl ${ttl}`)

    assert.equal(await (await fetch(`${base}/logout`, {headers: {cookie}})).text(), "bye")
    assert.equal(await client.exists(`app:${sid}`), 0)
    const after = await fetch(`${base}/whoami`, {headers: {cookie}})
    assert.equal(await after.text(), "nobody")
  } finally {
    server.close()
  }
})
