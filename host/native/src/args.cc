#include "common.h"

namespace weft {

namespace {
size_t ElementSize(napi_typedarray_type t) {
  switch (t) {
    case napi_int8_array:
    case napi_uint8_array:
    case napi_uint8_clamped_array:
      return 1;
    case napi_int16_array:
    case napi_uint16_array:
      return 2;
    case napi_int32_array:
    case napi_uint32_array:
    case napi_float32_array:
      return 4;
    default:
      return 8;
  }
}

bool IsNullish(napi_env env, napi_value v) {
  napi_valuetype t;
  return napi_typeof(env, v, &t) == napi_ok && (t == napi_undefined || t == napi_null);
}
}  // namespace

Args GetArgs(napi_env env, napi_callback_info info) {
  Args a;
  a.env = env;
  size_t argc = kMaxArgs;
  napi_get_cb_info(env, info, &argc, a.argv, nullptr, nullptr);  // missing ones read as undefined
  return a;
}

Bytes GetBytes(napi_env env, napi_value v, const char* what) {
  bool is = false;
  void* data = nullptr;
  size_t length = 0;
  if (napi_is_typedarray(env, v, &is) == napi_ok && is) {
    napi_typedarray_type type;
    napi_get_typedarray_info(env, v, &type, &length, &data, nullptr, nullptr);
    return {static_cast<uint8_t*>(data), length * ElementSize(type)};
  }
  if (napi_is_arraybuffer(env, v, &is) == napi_ok && is) {
    napi_get_arraybuffer_info(env, v, &data, &length);
    return {static_cast<uint8_t*>(data), length};
  }
  if (napi_is_dataview(env, v, &is) == napi_ok && is) {
    napi_get_dataview_info(env, v, &length, &data, nullptr, nullptr);
    return {static_cast<uint8_t*>(data), length};
  }
  // A SharedArrayBuffer (shared Wasm memory) is not an ArrayBuffer for N-API 8; a view over it is.
  ThrowType(Napi::Env(env), std::string(what) + " must be an ArrayBuffer or a typed array over one");
}

U32s GetU32s(napi_env env, napi_value v, const char* what) {
  napi_typedarray_type type;
  size_t length = 0;
  void* data = nullptr;
  if (napi_get_typedarray_info(env, v, &type, &length, &data, nullptr, nullptr) == napi_ok && type == napi_uint32_array)
    return {static_cast<uint32_t*>(data), length};
  ThrowType(Napi::Env(env), std::string(what) + " must be a Uint32Array");
}

Capacity GetCapacity(napi_env env, napi_value v) {
  double d;
  if (napi_get_value_double(env, v, &d) == napi_ok) {
    if (!(d >= 0 && d <= 0xffffffffu)) ThrowRange(Napi::Env(env), "capacity out of range");
    return {static_cast<uint32_t>(d), nullptr, SIZE_MAX};
  }
  U32s each = GetU32s(env, v, "capacity");
  return {0, each.data, each.length};
}

double* GetStats(napi_env env, napi_value v) {
  napi_typedarray_type type;
  size_t length = 0;
  void* data = nullptr;
  if (napi_get_typedarray_info(env, v, &type, &length, &data, nullptr, nullptr) == napi_ok &&
      type == napi_float64_array && length >= STAT_COUNT)
    return static_cast<double*>(data);
  if (IsNullish(env, v)) return nullptr;
  ThrowType(Napi::Env(env), "stats must be a Float64Array of at least " + std::to_string(STAT_COUNT) + " entries");
}

int32_t GetInt32(napi_env env, napi_value v, const char* what) {
  int32_t r;
  if (napi_get_value_int32(env, v, &r) != napi_ok) ThrowType(Napi::Env(env), std::string(what) + " must be a number");
  return r;
}

uint32_t GetUint32(napi_env env, napi_value v, const char* what) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok) ThrowType(Napi::Env(env), std::string(what) + " must be a number");
  if (!(d >= 0 && d <= 0xffffffffu)) ThrowRange(Napi::Env(env), std::string(what) + " out of range");
  return static_cast<uint32_t>(d);
}

std::string GetOptionalString(Napi::Env env, const Napi::Value& v, const char* what) {
  if (v.IsUndefined() || v.IsNull()) return std::string();
  if (!v.IsString()) ThrowType(env, std::string(what) + " must be a string");
  return v.As<Napi::String>().Utf8Value();
}

Slots GetSlots(const Args& a, size_t first, bool withCapacity) {
  napi_env env = a.env;
  Slots s;
  s.mem = GetBytes(env, a.argv[first], "mem");
  s.offsets = GetU32s(env, a.argv[first + 1], "offsets");
  if (withCapacity) s.capacity = GetCapacity(env, a.argv[first + 2]);
  else s.capacity = {0, nullptr, SIZE_MAX};
  s.lengths = GetU32s(env, a.argv[first + 3], "lengths");
  s.start = GetUint32(env, a.argv[first + 4], "start");
  s.count = GetUint32(env, a.argv[first + 5], "count");
  CheckSlots(env, s, withCapacity);
  return s;
}

void CheckSlots(napi_env env, const Slots& s, bool withCapacity) {
  uint64_t end = uint64_t(s.start) + s.count;
  if (end > s.offsets.length || end > s.lengths.length || (withCapacity && end > s.capacity.length))
    ThrowRange(Napi::Env(env), "start + count exceeds the slot arrays");
  for (uint32_t i = s.start; i < end; i++) {
    uint64_t o = s.offsets.data[i];
    uint64_t n = withCapacity ? s.capacity.at(i) : s.lengths.data[i];
    if (o + n > s.mem.length)
      ThrowRange(Napi::Env(env), "slot " + std::to_string(i) + " [" + std::to_string(o) + ", +" + std::to_string(n) +
                                     ") lies outside mem (" + std::to_string(s.mem.length) + " bytes)");
  }
}

void SetRawFunction(Napi::Env env, Napi::Object exports, const char* name, napi_callback cb) {
  napi_value fn;
  if (napi_create_function(env, name, NAPI_AUTO_LENGTH, cb, nullptr, &fn) != napi_ok)
    throw Napi::Error::New(env, std::string("cannot create function ") + name);
  exports.Set(name, Napi::Value(env, fn));
}

napi_value MakeUint32(napi_env env, uint32_t v) {
  napi_value r;
  napi_create_uint32(env, v, &r);
  return r;
}

}  // namespace weft
