-- The sandbox every script runs in, set up once per Lua VM with the Python functions it needs.
-- Scripts see Redis's globals only; they can neither create a global nor replace one, and
-- what they cannot reach (debug, the Python bridge, these locals) stays out of their sight.
local py_call, py_error_text, py_setresp, py_log, py_sha1hex, py_stop = ...
local bit_functions, cjson_functions, cjson_null, cmsgpack_functions, version, version_num =
  select(7, ...)

local select, error, type, tostring, rawequal, rawget, xpcall = select, error, type, tostring, rawequal, rawget, xpcall
local setmetatable, setfenv, loadstring, pairs = setmetatable, setfenv, loadstring, pairs
local getinfo, sethook = debug.getinfo, debug.sethook

local WRONG_ARGUMENTS = 'ERR wrong number or type of arguments'

-- Redis's redis.* functions are C functions: an error they raise names the line of the
-- script that called them, even from a tail call (`return redis.call(...)`), which replaces
-- the frame of a Lua function. So a line hook keeps the line before the current one, and
-- each function below reads it on its first line (its entry is the current line) and raises
-- with `fail`, which keeps the text and that line for the error handler.
local line_before, line_now = nil, nil
-- The chunk whose lines errors name: a script's, or a function library's.
local source = '@user_script'
local failure, failure_text, failure_line = nil, nil, nil

-- Raise `raised`; the error handler answers `text` (the same by default) at `line`.
local function fail(line, raised, text)
  failure, failure_text, failure_line = raised, text or raised, line
  error(raised, 0)
end

-- Leave one of these functions: the line hook has seen its lines, and the script's line is
-- the current one again (the rest of this line raises no line event).
local function restore(line, ...) line_now = line; return ... end

-- A library of Python functions, each answering true and its result or false and the error.
local function library(functions)
  local wrapped = {}
  for name, fn in pairs(functions) do
    local function checked(line, ok, result, count)
      if not ok then
        fail(line, result, 'ERR user_script:' .. tostring(line) .. ': ' .. result)
      end
      if count ~= nil then
        return restore(line, unpack(result, 1, count))
      end
      return restore(line, result)
    end
    wrapped[name] = function(...) local line = line_before; return checked(line, fn(...)) end
  end
  return wrapped
end
local bit = library(bit_functions)
local cjson = library(cjson_functions)
cjson.null = cjson_null
local cmsgpack = library(cmsgpack_functions)

local function call(line, raise, ...)
  local ok, reply = py_call(raise, ...)
  if not ok then
    fail(line, reply)
  end
  return restore(line, reply)
end

local function sha1hex(line, ...)
  if select('#', ...) ~= 1 then
    fail(line, 'ERR wrong number of arguments')
  end
  return restore(line, py_sha1hex(tostring((...))))
end

local function log(line, level, ...)
  if select('#', ...) < 1 then
    fail(line, 'ERR server.log() requires two arguments or more.')
  end
  py_log(level, ...)
  return restore(line)
end

local function setresp(line, ...)
  if select('#', ...) ~= 1 then
    fail(line, 'ERR server.setresp() requires one argument.')
  end
  local protocol = ...
  if protocol ~= 2 and protocol ~= 3 then
    fail(line, 'ERR RESP version must be 2 or 3.')
  end
  py_setresp(protocol)
  return restore(line)
end

local redis = {
  call = function(...) local line = line_before; return call(line, true, ...) end,
  pcall = function(...) local line = line_before; return call(line, false, ...) end,
  sha1hex = function(...) local line = line_before; return sha1hex(line, ...) end,
  log = function(...) local line = line_before; return log(line, ...) end,
  setresp = function(...) local line = line_before; return setresp(line, ...) end,
  error_reply = function(text)
    if type(text) ~= 'string' then
      return {err = WRONG_ARGUMENTS}
    end
    return {err = py_error_text(text)}
  end,
  status_reply = function(text)
    if type(text) ~= 'string' then
      return {err = WRONG_ARGUMENTS}
    end
    return {ok = text}
  end,
  replicate_commands = function() return true end,
  set_repl = function() end,
  breakpoint = function() return false end,
  debug = function() end,
  acl_check_cmd = function() return true end,
  LOG_DEBUG = 0, LOG_VERBOSE = 1, LOG_NOTICE = 2, LOG_WARNING = 3,
  REPL_NONE = 0, REPL_AOF = 1, REPL_SLAVE = 2, REPL_REPLICA = 2, REPL_ALL = 3,
  REDIS_VERSION = version, REDIS_VERSION_NUM = version_num,
  VALKEY_VERSION = version, VALKEY_VERSION_NUM = version_num, SERVER_NAME = 'valkey',
}

local globals = {
  redis = redis, server = redis, bit = bit, cjson = cjson, cmsgpack = cmsgpack,
  string = string, table = table, math = math, coroutine = coroutine, os = {clock = os.clock},
  assert = assert, error = error, gcinfo = gcinfo, getmetatable = getmetatable,
  ipairs = ipairs, next = next, pairs = pairs, pcall = pcall, rawequal = rawequal,
  rawget = rawget, rawset = rawset, select = select, setmetatable = setmetatable,
  tonumber = tonumber, tostring = tostring, type = type, unpack = unpack, xpcall = xpcall,
  collectgarbage = collectgarbage, loadstring = loadstring, load = load, _VERSION = _VERSION,
}
setmetatable(globals, {
  __index = function(_, name)
    error('Script attempted to access nonexistent global variable \'' .. tostring(name) .. '\'', 2)
  end,
})

-- The tables a script sees read-only, each with the table it reads through to: rawset refuses
-- them, and rawget, next and pairs see what they stand for.
local READONLY = 'Attempt to modify a readonly table'
local backing = setmetatable({}, {__mode = 'k'})

local function refuse() error(READONLY, 2) end

-- A library as scripts see it: readable, not writable.
local function readonly(library)
  local view = setmetatable({}, {__index = library, __newindex = refuse, __metatable = false})
  backing[view] = library
  return view
end
for _, name in ipairs({'redis', 'server', 'bit', 'cjson', 'cmsgpack', 'string', 'table', 'math',
                       'coroutine', 'os'}) do
  globals[name] = readonly(globals[name])
end

-- Strings index the read-only string library, and their metatable reads as a read-only view.
local string_metatable = getmetatable('')
string_metatable.__index = globals.string
string_metatable.__metatable = readonly({__index = globals.string})

local raw_next, raw_rawget, raw_rawset = next, rawget, rawset
local function seen_next(line, t, k) return restore(line, raw_next(backing[t] or t, k)) end
local function guarded_rawset(line, t, k, v)
  if backing[t] then
    fail(line, READONLY, 'ERR ' .. READONLY)
  end
  return restore(line, raw_rawset(t, k, v))
end
globals.next = function(t, k) local line = line_before; return seen_next(line, t, k) end
-- Raise C's error for a first argument that is not a table, as the library function `name`.
local function expect_table(line, name, ...)
  local t = ...
  if type(t) ~= 'table' then
    local got = select('#', ...) == 0 and 'no value' or type(t)
    local text = 'bad argument #1 to \'' .. name .. '\' (table expected, got ' .. got .. ')'
    fail(line, text, 'ERR user_script:' .. tostring(line) .. ': ' .. text)
  end
end
local function seen_pairs(line, ...)
  expect_table(line, 'pairs', ...)
  return restore(line, globals.next, (...), nil)
end
globals.pairs = function(...) local line = line_before; return seen_pairs(line, ...) end
globals.rawget = function(t, k) local line = line_before; return restore(line, raw_rawget(backing[t] or t, k)) end
globals.rawset = function(t, k, v) local line = line_before; return guarded_rawset(line, t, k, v) end

-- table.insert writes raw as well; the scripts' table library is a copy with it guarded.
local raw_insert = table.insert
local function guarded_insert(line, ...)
  expect_table(line, 'insert', ...)
  if select('#', ...) > 3 then
    local text = "wrong number of arguments to 'insert'"
    fail(line, text, 'ERR user_script:' .. tostring(line) .. ': ' .. text)
  end
  local t = ...
  if backing[t] then
    fail(line, READONLY, 'ERR ' .. READONLY)
  end
  return restore(line, raw_insert(...))
end
local scripts_table = {}
for name, fn in raw_next, backing[globals.table] do
  scripts_table[name] = fn
end
scripts_table.insert = function(...) local line = line_before; return guarded_insert(line, ...) end
globals.table = readonly(scripts_table)

-- What a script sees as its globals: an empty table that reads through to `globals` and
-- refuses every assignment.
local environment = setmetatable({}, {__index = globals, __newindex = refuse, __metatable = false})
backing[environment] = globals
globals._G = environment

local function handler(err)
  sethook()
  if failure ~= nil and rawequal(err, failure) then
    return {err = failure_text, line = failure_line}
  end
  local line = nil
  for level = 2, 200 do
    local info = getinfo(level, 'Sl')
    if info == nil then break end
    if info.source == source then
      line = info.currentline
      break
    end
  end
  local text
  if type(err) == 'table' then
    text = rawget(err, 'err')
    text = text == nil and 'ERR unknown error' or tostring(text)
  else
    text = 'ERR ' .. tostring(err)
  end
  return {err = text, line = line}
end

globals.__redis__err__handler, globals.__server__err__handler = handler, handler

-- Every line: the line before it; every `count` lines, whether to stop (the time limit, SCRIPT
-- KILL). A count hook would miss its turns while this line hook runs, which is on nearly every
-- instruction of a tight loop. Once stopped, every line raises, so that a pcall cannot hold the
-- error.
local lines, lines_per_check = 0, 1
local function hook(event, line)
  line_before, line_now = line_now, line
  lines = lines + 1
  if lines < lines_per_check then return end
  lines = 0
  local stop = py_stop()
  if stop ~= nil then
    local function kill() error({err = stop}) end
    sethook(kill, 'l')
    kill()
  end
end

local function compile(body)
  local fn, message = loadstring(body, '@user_script')
  if fn == nil then
    return nil, message
  end
  setfenv(fn, environment)
  return fn, nil
end

local function guarded(chunk, fn, count)
  source, failure, line_before, line_now = chunk, nil, nil, nil
  lines, lines_per_check = 0, count
  sethook(hook, 'l')
  local ok, result = xpcall(fn, handler)
  sethook()
  source = '@user_script'
  return ok, result
end

-- One run: KEYS and ARGV set, the time limit checked every `count` lines. Answers
-- true and the script's first result, or false and {err = text, line = n}.
local function run(fn, keys, argv, count)
  globals.KEYS, globals.ARGV = keys, argv
  return guarded('@user_script', fn, count)
end

-- Function libraries. While one loads, `redis` has only what Redis gives a loading library,
-- and register_function collects its functions; a function runs later with the whole of
-- `redis`, its keys and arguments as parameters, and no KEYS or ARGV.
local FLAGS = {['no-writes'] = true, ['allow-oom'] = true, ['allow-stale'] = true,
               ['no-cluster'] = true, ['allow-cross-slot-keys'] = true}
local REGISTER_FIELDS = {function_name = true, callback = true, flags = true, description = true}
local registered = nil

local function register(line, ...)
  local name, callback, flags, description
  if select('#', ...) == 1 then
    local named = ...
    if type(named) ~= 'table' then
      fail(line, 'ERR calling server.register_function with a single argument is only applicable to Lua table (representing named arguments).')
    end
    for field in pairs(named) do
      if not REGISTER_FIELDS[field] then
        fail(line, 'ERR unknown argument given to server.register_function')
      end
    end
    name, callback, flags, description = named.function_name, named.callback, named.flags, named.description
  elseif select('#', ...) == 2 then
    name, callback = ...
  else
    fail(line, 'ERR wrong number of arguments to server.register_function')
  end
  if type(name) ~= 'string' then
    fail(line, 'ERR function_name argument given to server.register_function must be a string')
  end
  if type(callback) ~= 'function' then
    fail(line, 'ERR callback argument given to server.register_function must be a function')
  end
  if description ~= nil and type(description) ~= 'string' then
    fail(line, 'ERR description argument given to server.register_function must be a string')
  end
  local flag_list = {}
  if flags ~= nil then
    if type(flags) ~= 'table' then
      fail(line, 'ERR flags argument to server.register_function must be a table representing function flags')
    end
    for _, flag in ipairs(flags) do
      if not FLAGS[flag] then
        fail(line, 'ERR unknown flag given')
      end
      flag_list[#flag_list + 1] = flag
    end
  end
  registered[#registered + 1] = {name = name, callback = callback, flags = flag_list, description = description}
  return restore(line)
end

local loading_fields = {
  register_function = function(...) local line = line_before; return register(line, ...) end,
  log = redis.log, setresp = redis.setresp,
}
for name, value in pairs(redis) do
  if type(value) ~= 'function' then loading_fields[name] = value end
end
local loading_redis = setmetatable({}, {
  __index = setmetatable(loading_fields, getmetatable(globals)),
  __newindex = function() error('Attempt to modify a readonly table', 2) end,
  __metatable = false,
})

local library_globals = setmetatable({}, {__index = globals})
local library_environment = setmetatable({}, {
  __index = library_globals, __newindex = refuse, __metatable = false,
})
backing[library_environment] = globals

-- Load one library: 'compile' and the message, 'error' and {err, line}, or 'ok' and the
-- functions it registered, in order.
local function load_library(body, count)
  local fn, message = loadstring(body, '@user_function')
  if fn == nil then
    return 'compile', message
  end
  setfenv(fn, library_environment)
  registered = {}
  globals.KEYS, globals.ARGV = nil, nil
  rawset(library_globals, 'redis', loading_redis)
  rawset(library_globals, 'server', loading_redis)
  local ok, result = guarded('@user_function', fn, count)
  rawset(library_globals, 'redis', globals.redis)
  rawset(library_globals, 'server', globals.server)
  local functions = registered
  registered = nil
  if not ok then
    return 'error', result
  end
  return 'ok', functions
end

local function call_function(callback, keys, args, count)
  globals.KEYS, globals.ARGV = nil, nil
  return guarded('@user_function', function() return callback(keys, args) end, count)
end

return compile, run, load_library, call_function
