-- lmcache.lua: a Wireshark dissector for LMCache's V1 remote-storage
-- protocol, lm:// (docs/CONFORMANCE.md, "Reading traffic in Wireshark").
--
--   wireshark -X lua_script:lmcache.lua capture.pcap
--   tshark -X lua_script:lmcache.lua -r capture.pcap -Y lmcache
--   or copy it into ~/.local/lib/wireshark/plugins/
--
-- Requests are 186 bytes (nine little-endian int32s, then a 150-byte key
-- padded with spaces), PUTs followed by `length` payload bytes; replies are
-- 36 bytes (nine int32s, location last), SUCCESS replies followed by
-- `length` body bytes. There are no request ids: replies come back in
-- request order, and PUT has no reply. The dissector registers on TCP port
-- 65432 (preference lmcache.port) and as a heuristic dissector on TCP; it
-- reassembles headers and bodies across segments, follows pipelined
-- requests, links each reply to the request it answers, and marks what
-- breaks the protocol as expert info.

local lm = Proto("lmcache", "LMCache lm:// remote storage")

local REQUEST_BYTES = 186
local REPLY_BYTES = 36
local KEY_OFFSET = 36
local KEY_BYTES = 150

local PUT, GET, EXIST, LIST, HEALTH = 1, 2, 3, 4, 5
local SUCCESS, FAIL = 200, 400

local command_names = { [PUT] = "PUT", [GET] = "GET", [EXIST] = "EXIST", [LIST] = "LIST", [HEALTH] = "HEALTH" }
local code_names = { [SUCCESS] = "SUCCESS", [FAIL] = "FAIL" }
local dtype_names = {
  [0] = "None", [1] = "half", [2] = "float16", [3] = "bfloat16", [4] = "float32",
  [5] = "float64", [6] = "uint8", [7] = "float8_e4m3fn", [8] = "float8_e5m2",
}
-- MemoryFormat as numbered since the renumbering (protocol.md §2.5).
local fmt_names = {
  [0] = "UNDEFINED", [1] = "KV_2LTD", [2] = "KV_T2D", [3] = "KV_2TD", [4] = "BINARY",
  [5] = "BINARY_BUFFER", [6] = "KV_MLA_FMT", [7] = "EC_TD", [8] = "HS_TD",
}
local location_names = { [0] = "None", [1] = "LocalCPUBackend", [2] = "LocalDiskBackend" }
-- Era F key dtype strings (protocol.md §3.3).
local key_dtypes = {
  half = true, bfloat16 = true, float = true, double = true, int8 = true, uint8 = true, int16 = true,
  int32 = true, int64 = true, bool = true, fp8_e4m3fn = true, fp8_e4m3fnuz = true, fp8_e5m2 = true,
  fp8_e5m2fnuz = true,
}

local f = lm.fields
f.command = ProtoField.int32("lmcache.command", "Command", base.DEC, command_names)
f.code = ProtoField.int32("lmcache.code", "Code", base.DEC, code_names)
f.length = ProtoField.int32("lmcache.length", "Length", base.DEC)
f.fmt = ProtoField.int32("lmcache.fmt", "Format", base.DEC, fmt_names)
f.dtype = ProtoField.int32("lmcache.dtype", "Dtype", base.DEC, dtype_names)
f.location = ProtoField.int32("lmcache.location", "Location", base.DEC, location_names)
f.shape = ProtoField.int32("lmcache.shape", "Shape", base.DEC)
f.key = ProtoField.string("lmcache.key", "Key")
f.key_model = ProtoField.string("lmcache.key.model", "Model")
f.key_world_size = ProtoField.string("lmcache.key.world_size", "World size")
f.key_worker_id = ProtoField.string("lmcache.key.worker_id", "Worker id")
f.key_chunk_hash = ProtoField.string("lmcache.key.chunk_hash", "Chunk hash (canonical hex)")
f.key_dtype = ProtoField.string("lmcache.key.dtype", "Dtype")
f.key_layer = ProtoField.string("lmcache.key.layer", "Layer")
f.key_tag = ProtoField.string("lmcache.key.tag", "Tag")
f.body = ProtoField.bytes("lmcache.body", "Body")
f.response = ProtoField.bool("lmcache.response", "Is a reply")
f.response_in = ProtoField.framenum("lmcache.response_in", "Reply in", base.NONE, frametype.RESPONSE)
f.request_in = ProtoField.framenum("lmcache.request_in", "Request in", base.NONE, frametype.REQUEST)
f.request_command = ProtoField.int32("lmcache.request_command", "Reply to", base.DEC, command_names)
f.time = ProtoField.relative_time("lmcache.time", "Time since request")

local e_bad_key = ProtoExpert.new("lmcache.bad_key", "Key does not parse", expert.group.PROTOCOL, expert.severity.WARN)
local e_negative_length = ProtoExpert.new("lmcache.negative_length", "Negative length", expert.group.PROTOCOL,
  expert.severity.ERROR)
local e_unknown_command = ProtoExpert.new("lmcache.unknown_command", "Unknown command", expert.group.PROTOCOL,
  expert.severity.ERROR)
local e_unknown_code = ProtoExpert.new("lmcache.unknown_code", "Unknown reply code", expert.group.PROTOCOL,
  expert.severity.ERROR)
local e_short_body = ProtoExpert.new("lmcache.short_body", "Connection ended inside a message",
  expert.group.PROTOCOL, expert.severity.ERROR)
local e_reply_to_put = ProtoExpert.new("lmcache.reply_to_put", "Reply to a PUT (PUT has no reply)",
  expert.group.PROTOCOL, expert.severity.ERROR)
local e_unsolicited = ProtoExpert.new("lmcache.unsolicited_reply", "Reply with no request waiting for it",
  expert.group.PROTOCOL, expert.severity.ERROR)
local e_truncated = ProtoExpert.new("lmcache.truncated", "Message cut short", expert.group.PROTOCOL,
  expert.severity.ERROR)
lm.experts = { e_bad_key, e_negative_length, e_unknown_command, e_unknown_code, e_short_body, e_reply_to_put,
  e_unsolicited, e_truncated }

lm.prefs.port = Pref.uint("TCP port", 65432, "The TCP port lm:// servers listen on (LMCache's docs use 65432)")

local f_tcp_stream = Field.new("tcp.stream")
local f_tcp_fin = Field.new("tcp.flags.fin")
local f_tcp_rst = Field.new("tcp.flags.reset")

-- --- State, built on the first pass and read on every later one ------------

local streams    -- [tcp.stream] = { server = "ip:port", owed = {...}, last = command, pending = {...} }
local pdus       -- ["frame:n"] = what the n-th message of a frame was linked to
local ends       -- [frame] = expert texts for a FIN or RST that cut a message short
local cur_frame, cur_index = -1, 0

local function reset()
  streams, pdus, ends = {}, {}, {}
  cur_frame, cur_index = -1, 0
end
lm.init = reset
reset()

local function stream_of(pinfo)
  local s = f_tcp_stream()
  if not s then return nil end
  local id = s.value
  local st = streams[id]
  if not st then
    st = { owed = {}, head = 1, tail = 0, pending = {}, desync = {} }
    streams[id] = st
  end
  return st
end

-- Whether this packet goes from the connection's client to its server.
local function is_request(pinfo, st)
  if st and st.server then return tostring(pinfo.dst) .. ":" .. pinfo.dst_port == st.server end
  if pinfo.dst_port == lm.prefs.port then return true end
  if pinfo.src_port == lm.prefs.port then return false end
  return true
end

local function remember_server(pinfo, st, request)
  if st and not st.server then
    if request then
      st.server = tostring(pinfo.dst) .. ":" .. pinfo.dst_port
    else
      st.server = tostring(pinfo.src) .. ":" .. pinfo.src_port
    end
  end
end

-- --- Keys (protocol.md §3) --------------------------------------------------

-- Whitespace Python's str.strip() removes: ASCII and the Unicode set.
local unicode_spaces = {
  "\194\133", "\194\160", "\225\154\128", "\226\128\168", "\226\128\169", "\226\128\175", "\226\129\159",
  "\227\128\128",
}
for c = 0x80, 0x8a do unicode_spaces[#unicode_spaces + 1] = "\226\128" .. string.char(c) end

local function is_ascii_space(b) return b == 32 or (b >= 9 and b <= 13) or (b >= 28 and b <= 31) end

local function strip(s)
  local changed = true
  while changed and #s > 0 do
    changed = false
    if is_ascii_space(s:byte(1)) then s = s:sub(2); changed = true end
    if #s > 0 and is_ascii_space(s:byte(#s)) then s = s:sub(1, -2); changed = true end
    for _, u in ipairs(unicode_spaces) do
      if s:sub(1, #u) == u then s = s:sub(#u + 1); changed = true end
      if #s >= #u and s:sub(-#u) == u then s = s:sub(1, -#u - 1); changed = true end
    end
  end
  return s
end

local function valid_utf8(s)
  local i, n = 1, #s
  while i <= n do
    local c = s:byte(i)
    local len, min
    if c < 0x80 then len, min = 1, 0
    elseif c >= 0xc2 and c <= 0xdf then len, min = 2, 0x80
    elseif c >= 0xe0 and c <= 0xef then len, min = 3, 0x800
    elseif c >= 0xf0 and c <= 0xf4 then len, min = 4, 0x10000
    else return false end
    if i + len - 1 > n then return false end
    local cp = len == 1 and c or (c % (2 ^ (7 - len)))
    for k = 1, len - 1 do
      local b = s:byte(i + k)
      if b < 0x80 or b > 0xbf then return false end
      cp = cp * 64 + (b - 0x80)
    end
    if cp < min or cp > 0x10ffff or (cp >= 0xd800 and cp <= 0xdfff) then return false end
    i = i + len
  end
  return true
end

local function split_at(s, sep)
  local parts, start = {}, 1
  while true do
    local at = s:find(sep, start, true)
    if not at then parts[#parts + 1] = s:sub(start); return parts end
    parts[#parts + 1] = s:sub(start, at - 1)
    start = at + 1
  end
end

-- Python reads digits in any script: int() takes every Unicode decimal digit
-- (each block of ten starts at one of these zeros), and str.isdigit() also
-- takes the digits that are not decimal (superscripts, circled digits),
-- which int() then refuses. Generated from Python 3.11's unicodedata.
local decimal_zeros = {
  0x30, 0x660, 0x6F0, 0x7C0, 0x966, 0x9E6, 0xA66, 0xAE6, 0xB66, 0xBE6,
  0xC66, 0xCE6, 0xD66, 0xDE6, 0xE50, 0xED0, 0xF20, 0x1040, 0x1090, 0x17E0,
  0x1810, 0x1946, 0x19D0, 0x1A80, 0x1A90, 0x1B50, 0x1BB0, 0x1C40, 0x1C50, 0xA620,
  0xA8D0, 0xA900, 0xA9D0, 0xA9F0, 0xAA50, 0xABF0, 0xFF10, 0x104A0, 0x10D30, 0x11066,
  0x110F0, 0x11136, 0x111D0, 0x112F0, 0x11450, 0x114D0, 0x11650, 0x116C0, 0x11730, 0x118E0,
  0x11950, 0x11C50, 0x11D50, 0x11DA0, 0x16A60, 0x16AC0, 0x16B50, 0x1D7CE, 0x1D7D8, 0x1D7E2,
  0x1D7EC, 0x1D7F6, 0x1E140, 0x1E2F0, 0x1E950, 0x1FBF0,
}
local digit_only = {
  { 0xB2, 0xB3 }, { 0xB9, 0xB9 }, { 0x1369, 0x1371 }, { 0x19DA, 0x19DA }, { 0x2070, 0x2070 },
  { 0x2074, 0x2079 }, { 0x2080, 0x2089 }, { 0x2460, 0x2468 }, { 0x2474, 0x247C }, { 0x2488, 0x2490 },
  { 0x24EA, 0x24EA }, { 0x24F5, 0x24FD }, { 0x24FF, 0x24FF }, { 0x2776, 0x277E }, { 0x2780, 0x2788 },
  { 0x278A, 0x2792 }, { 0x10A40, 0x10A43 }, { 0x10E60, 0x10E68 }, { 0x11052, 0x1105A }, { 0x1F100, 0x1F10A },
}

local function code_points(s)
  local cps, i = {}, 1
  while i <= #s do
    local c = s:byte(i)
    local len = c < 0x80 and 1 or c < 0xe0 and 2 or c < 0xf0 and 3 or 4
    local cp = len == 1 and c or (c % (2 ^ (7 - len)))
    for k = 1, len - 1 do cp = cp * 64 + ((s:byte(i + k) or 0x80) - 0x80) end
    cps[#cps + 1] = cp
    i = i + len
  end
  return cps
end

local function decimal_value(cp)
  for _, z in ipairs(decimal_zeros) do
    if cp >= z and cp <= z + 9 then return cp - z end
  end
  return nil
end

local function is_digit_char(cp)
  if decimal_value(cp) then return true end
  for _, r in ipairs(digit_only) do
    if cp >= r[1] and cp <= r[2] then return true end
  end
  return false
end

-- str.isdigit(): not empty, every character a digit.
local function py_isdigit(s)
  if s == "" then return false end
  for _, cp in ipairs(code_points(s)) do
    if not is_digit_char(cp) then return false end
  end
  return true
end

-- Python's int(s) or int(s, 16): optional whitespace and sign, digits (any
-- script's decimal digits; for hex also a-f, A-F, after an optional 0x) with
-- single '_' between them. Returns the canonical form (lowercase, no leading
-- zeros, "-" for a negative), or nil.
local function lenient_digits(s, hex)
  s = strip(s)
  local sign = ""
  if s:sub(1, 1) == "+" or s:sub(1, 1) == "-" then sign = s:sub(1, 1); s = s:sub(2) end
  if hex and (s:sub(1, 2) == "0x" or s:sub(1, 2) == "0X") then
    s = s:sub(3)
    if s:sub(1, 1) == "_" then s = s:sub(2) end
  end
  if s == "" or s:find("__", 1, true) or s:sub(1, 1) == "_" or s:sub(-1) == "_" then return nil end
  local digits = {}
  for _, cp in ipairs(code_points(s)) do
    local d = decimal_value(cp)
    if d then
      digits[#digits + 1] = tostring(d)
    elseif hex and ((cp >= 0x61 and cp <= 0x66) or (cp >= 0x41 and cp <= 0x46)) then
      digits[#digits + 1] = string.char(cp):lower()
    elseif cp ~= 0x5f then
      return nil
    end
  end
  local out = table.concat(digits):gsub("^0+", "")
  if out == "" then out, sign = "0", "" end
  if sign == "+" then sign = "" end
  return sign .. out
end

-- The era F key grammar: model@world_size@worker_id@hash@dtype[@layer][@k%v...].
-- Returns the parts, or nil and the reason it does not parse.
local function parse_key(text)
  local parts = split_at(text, "@")
  if #parts < 5 then return nil, "fewer than 5 '@'-separated fields" end
  local k = { model = parts[1], tags = {} }
  k.world_size = lenient_digits(parts[2], false)
  if not k.world_size then return nil, "world size '" .. parts[2] .. "' is not a decimal integer" end
  k.worker_id = lenient_digits(parts[3], false)
  if not k.worker_id then return nil, "worker id '" .. parts[3] .. "' is not a decimal integer" end
  k.chunk_hash = lenient_digits(parts[4], true)
  if not k.chunk_hash then return nil, "chunk hash '" .. parts[4] .. "' is not hexadecimal" end
  if not key_dtypes[parts[5]] then return nil, "dtype '" .. parts[5] .. "' is not an era F dtype string" end
  k.dtype = parts[5]
  local first_tag = 6
  -- A layer id is a part that isdigit(); int() must then read it (a
  -- superscript is a digit int() refuses: the key does not parse).
  if #parts >= 6 and py_isdigit(parts[6]) then
    k.layer = lenient_digits(parts[6], false)
    if not k.layer then return nil, "layer '" .. parts[6] .. "' is not a decimal integer" end
    first_tag = 7
  end
  -- Tags go into a dict: a repeated name keeps its first place, last value.
  local order, values = {}, {}
  for i = first_tag, #parts do
    local p = parts[i]
    local pct = p:find("%", 1, true)
    if not pct then return nil, "field '" .. p .. "' is neither a layer nor a k%v tag" end
    local name, value = p:sub(1, pct - 1), p:sub(pct + 1)
    if values[name] == nil then order[#order + 1] = name end
    values[name] = value
  end
  for _, name in ipairs(order) do k.tags[#k.tags + 1] = name .. "%" .. values[name] end
  return k
end

local function add_key(tree, range, raw, command)
  local text = strip(raw)
  local item = tree:add(f.key, range, text)
  if not valid_utf8(text) then
    if command == GET or command == EXIST or command == PUT then
      item:add_proto_expert_info(e_bad_key, "Key is not valid UTF-8: the server refuses it")
    end
    return text
  end
  local k, why = parse_key(text)
  if not k then
    -- HEALTH's probe key is not looked up; LIST's is a dummy.
    if command == GET or command == EXIST or command == PUT then
      item:add_proto_expert_info(e_bad_key, "Key does not parse: " .. why)
    end
    return text
  end
  item:add(f.key_model, range, k.model)
  item:add(f.key_world_size, range, k.world_size)
  item:add(f.key_worker_id, range, k.worker_id)
  item:add(f.key_chunk_hash, range, k.chunk_hash)
  item:add(f.key_dtype, range, k.dtype)
  if k.layer then item:add(f.key_layer, range, k.layer) end
  for _, t in ipairs(k.tags) do item:add(f.key_tag, range, t) end
  return text
end

-- --- Messages ---------------------------------------------------------------

local function ns_between(later, earlier)
  local d = later - earlier
  if d < 0 then d = 0 end
  local secs = math.floor(d)
  return NSTime.new(secs, math.floor((d - secs) * 1e9 + 0.5))
end

local function set_info(pinfo, text)
  if cur_index == 1 then
    pinfo.cols.info:set(text)
  else
    pinfo.cols.info:append("; " .. text)
  end
end

local function dissect_request(tvb, pinfo, tree, st, info)
  local command = tvb(0, 4):le_int()
  local length = tvb(4, 4):le_int()
  local name = command_names[command] or ("command " .. command)
  local t = tree:add(lm, tvb(), "LMCache request: " .. name)
  t:add(f.response, false):set_generated()
  local ci = t:add_le(f.command, tvb(0, 4))
  local li = t:add_le(f.length, tvb(4, 4))
  t:add_le(f.fmt, tvb(8, 4))
  t:add_le(f.dtype, tvb(12, 4))
  t:add_le(f.location, tvb(16, 4))
  local shape = {}
  for i = 0, 3 do
    t:add_le(f.shape, tvb(20 + 4 * i, 4))
    shape[#shape + 1] = tostring(tvb(20 + 4 * i, 4):le_int())
  end
  local key = add_key(t, tvb(KEY_OFFSET, KEY_BYTES), tvb(KEY_OFFSET, KEY_BYTES):raw(), command)
  if not command_names[command] then
    ci:add_proto_expert_info(e_unknown_command, "Unknown command " .. command .. ": the server closes the connection")
  end
  if length < 0 then
    li:add_proto_expert_info(e_negative_length,
      "Negative length " .. length .. (command == PUT and ": the server closes the connection" or ""))
  end
  if command == PUT and length > 0 and tvb:len() >= REQUEST_BYTES + length then
    t:add(f.body, tvb(REQUEST_BYTES, length))
  end
  -- The server closes the connection on these: what follows is not framed.
  if not pinfo.visited and (not command_names[command] or (command == PUT and length < 0)) then
    st.desync.request = pinfo.number
  end
  -- Link: requests that are owed a reply queue up for the replies.
  if not pinfo.visited then
    st.last = command
    if command == GET or command == EXIST or command == LIST or command == HEALTH then
      st.tail = st.tail + 1
      st.owed[st.tail] = { key = info.key, frame = pinfo.number, time = pinfo.abs_ts, command = command }
    end
  end
  local linked = pdus[info.key]
  if linked and linked.response_frame then t:add(f.response_in, linked.response_frame):set_generated() end
  local text = name
  if command == PUT then text = text .. " " .. length .. " bytes" end
  set_info(pinfo, text .. " " .. key .. (command == PUT and " [" .. table.concat(shape, ",") .. "]" or ""))
end

local function dissect_reply(tvb, pinfo, tree, st, info)
  local code = tvb(0, 4):le_int()
  local length = tvb(4, 4):le_int()
  local t = tree:add(lm, tvb(), "LMCache reply: " .. (code_names[code] or ("code " .. code)))
  t:add(f.response, true):set_generated()
  local ci = t:add_le(f.code, tvb(0, 4))
  local li = t:add_le(f.length, tvb(4, 4))
  t:add_le(f.fmt, tvb(8, 4))
  t:add_le(f.dtype, tvb(12, 4))
  for i = 0, 3 do t:add_le(f.shape, tvb(16 + 4 * i, 4)) end
  t:add_le(f.location, tvb(32, 4))
  if not code_names[code] then
    ci:add_proto_expert_info(e_unknown_code, "Unknown reply code " .. code .. " (200 SUCCESS and 400 FAIL exist)")
  end
  if length < 0 then li:add_proto_expert_info(e_negative_length, "Negative length " .. length) end
  if code == SUCCESS and length > 0 and tvb:len() >= REPLY_BYTES + length then
    t:add(f.body, tvb(REPLY_BYTES, length))
  end
  local link = pdus[info.key]
  if not pinfo.visited then
    link = {}
    pdus[info.key] = link
    local head = st.owed[st.head]
    if head then
      st.owed[st.head] = nil
      st.head = st.head + 1
      link.request_frame, link.command, link.request_time = head.frame, head.command, head.time
      local req = pdus[head.key]
      if req then req.response_frame = pinfo.number end
    elseif st.last == PUT then
      link.reply_to_put = true
    else
      link.unsolicited = true
    end
  end
  local answers = ""
  if link and link.request_frame then
    t:add(f.request_in, link.request_frame):set_generated()
    t:add(f.request_command, link.command):set_generated()
    t:add(f.time, ns_between(pinfo.abs_ts, link.request_time)):set_generated()
    answers = " (" .. command_names[link.command] .. ")"
  elseif link and link.reply_to_put then
    t:add_proto_expert_info(e_reply_to_put, "Reply after a PUT: PUT has no reply, so this reply is answered to nothing")
  elseif link then
    t:add_proto_expert_info(e_unsolicited, "Reply with no request waiting for it")
  end
  set_info(pinfo, "Reply " .. (code_names[code] or tostring(code)) .. answers ..
    (length ~= 0 and (" " .. length .. " bytes") or ""))
end

local function message_length(tvb, pinfo, offset)
  local st = stream_of(pinfo)
  local request = is_request(pinfo, st)
  local dir = request and "request" or "reply"
  -- After a request the server closes on, the rest is one unframed run.
  if st and st.desync[dir] and st.desync[dir] ~= pinfo.number then return tvb:reported_length_remaining(offset) end
  local first = tvb(offset, 4):le_int()
  local length = tvb(offset + 4, 4):le_int()
  local total
  if request then
    total = REQUEST_BYTES + ((first == PUT and length > 0) and length or 0)
  else
    total = REPLY_BYTES + ((first == SUCCESS and length > 0) and length or 0)
  end
  if st and not pinfo.visited then
    if tvb:reported_length_remaining(offset) < total then
      st.pending[dir] = { frame = pinfo.number, total = total, first = first }
    else
      st.pending[dir] = nil
    end
  end
  return total
end

local function dissect_message(tvb, pinfo, tree)
  pinfo.cols.protocol = "LMCACHE"
  if pinfo.number ~= cur_frame then cur_frame, cur_index = pinfo.number, 0 end
  cur_index = cur_index + 1
  local st = stream_of(pinfo)
  local request = is_request(pinfo, st)
  remember_server(pinfo, st, request)
  local info = { key = pinfo.number .. ":" .. cur_index }
  if not pinfo.visited then
    if not pdus[info.key] then pdus[info.key] = {} end
    if st then st.pending[request and "request" or "reply"] = nil end
  end
  local need = request and REQUEST_BYTES or REPLY_BYTES
  local desync = st and st.desync[request and "request" or "reply"]
  if desync and desync ~= pinfo.number then
    tree:add(lm, tvb(), string.format("LMCache: %d bytes after the request in frame %d, which the server closes "
      .. "the connection on (not dissected)", tvb:len(), desync))
    set_info(pinfo, "[" .. tvb:len() .. " unframed bytes]")
    return tvb:len()
  end
  if tvb:len() < need then
    local t = tree:add(lm, tvb(), "LMCache: " .. tvb:len() .. " bytes of a " .. need .. "-byte header")
    t:add_proto_expert_info(e_truncated, "Header cut short")
    return tvb:len()
  end
  if request then dissect_request(tvb, pinfo, tree, st, info) else dissect_reply(tvb, pinfo, tree, st, info) end
  return tvb:len()
end

function lm.dissector(tvb, pinfo, tree)
  dissect_tcp_pdus(tvb, tree, 8, message_length, dissect_message, true)
  return tvb:len()
end

-- --- A connection that ends inside a message --------------------------------

-- Runs after every dissector on every frame: a FIN or RST on a stream with
-- a message still incomplete means that message was cut short.
local lm_end = Proto("lmcache_end", "LMCache stream end")
function lm_end.dissector(tvb, pinfo, tree)
  local s = f_tcp_stream()
  if not s or not streams[s.value] then return end
  local fin, rst = f_tcp_fin(), f_tcp_rst()
  if not ((fin and fin.value) or (rst and rst.value)) then return end
  if not pinfo.visited then
    local st = streams[s.value]
    local notes = {}
    for _, dir in ipairs({ "request", "reply" }) do
      local p = st.pending[dir]
      if p then
        local what = dir == "request" and (command_names[p.first] or "request") or "reply"
        notes[#notes + 1] = string.format("The connection %s inside a %d-byte %s %s that began in frame %d",
          (rst and rst.value) and "was reset" or "was closed", p.total, what,
          (p.total > (dir == "request" and REQUEST_BYTES or REPLY_BYTES)) and "(body shorter than its length)"
            or "header", p.frame)
        st.pending[dir] = nil
      end
    end
    if #notes > 0 then ends[pinfo.number] = notes end
  end
  local notes = ends[pinfo.number]
  if notes then
    local t = tree:add(lm_end, tvb(0, 0), "LMCache: connection ended inside a message")
    for _, n in ipairs(notes) do t:add_proto_expert_info(e_short_body, n) end
  end
end
register_postdissector(lm_end)

-- --- Registration -----------------------------------------------------------

local registered_port = 0
local function register_port()
  local tcp = DissectorTable.get("tcp.port")
  if registered_port ~= 0 then tcp:remove(registered_port, lm) end
  registered_port = lm.prefs.port
  if registered_port ~= 0 then tcp:add(registered_port, lm) end
end

function lm.prefs_changed() register_port() end
register_port()

-- The heuristic: a request header at the very start of what a client
-- sends (relative sequence number 1), so a stream is never claimed in the
-- middle, where a payload could look like a header. A stream whose first
-- message spans segments is left alone: set the port for it instead.
local f_tcp_seq = Field.new("tcp.seq")
local function heuristic(tvb, pinfo, tree)
  if tvb:len() < 40 then return false end
  local seq = f_tcp_seq()
  if not seq or seq.value ~= 1 then return false end
  local command, length = tvb(0, 4):le_int(), tvb(4, 4):le_int()
  local fmt, dtype, location = tvb(8, 4):le_int(), tvb(12, 4):le_int(), tvb(16, 4):le_int()
  if not command_names[command] or length < 0 then return false end
  if fmt < 0 or fmt > 16 or dtype < 0 or dtype > 8 or location < 0 or location > 2 then return false end
  -- The first message must be whole in this segment: a heuristic call
  -- cannot ask TCP for more. Later segments reach the dissector through
  -- the conversation, where reassembly works.
  if tvb:len() < REQUEST_BYTES + ((command == PUT and length > 0) and length or 0) then return false end
  local key = tvb(KEY_OFFSET, KEY_BYTES):raw()
  if key:find("[%z\1-\8\14-\27\127]") then return false end
  local st = stream_of(pinfo)
  remember_server(pinfo, st, true)
  pinfo.conversation = lm
  lm.dissector(tvb, pinfo, tree)
  return true
end
lm:register_heuristic("tcp", heuristic)
