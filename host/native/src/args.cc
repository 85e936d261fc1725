#include "common.h"

namespace weft {

Bytes GetBytes(Napi::Env env, const Napi::Value& v, const char* what) {
  if (v.IsArrayBuffer()) {
    Napi::ArrayBuffer ab = v.As<Napi::ArrayBuffer>();
    return {static_cast<uint8_t*>(ab.Data()), ab.ByteLength()};
  }
  if (v.IsTypedArray()) {
    Napi::TypedArray ta = v.As<Napi::TypedArray>();
    Napi::ArrayBuffer ab = ta.ArrayBuffer();
    return {static_cast<uint8_t*>(ab.Data()) + ta.ByteOffset(), ta.ByteLength()};
  }
  if (v.IsDataView()) {
    Napi::DataView dv = v.As<Napi::DataView>();
    Napi::ArrayBuffer ab = dv.ArrayBuffer();
    return {static_cast<uint8_t*>(ab.Data()) + dv.ByteOffset(), dv.ByteLength()};
  }
  // A SharedArrayBuffer (shared Wasm memory) is not an ArrayBuffer for N-API 8; a view over it is.
  ThrowType(env, std::string(what) + " must be an ArrayBuffer or a typed array over one");
}

U32s GetU32s(Napi::Env env, const Napi::Value& v, const char* what) {
  if (v.IsTypedArray()) {
    Napi::TypedArray ta = v.As<Napi::TypedArray>();
    if (ta.TypedArrayType() == napi_uint32_array) {
      Napi::ArrayBuffer ab = ta.ArrayBuffer();
      return {reinterpret_cast<uint32_t*>(static_cast<uint8_t*>(ab.Data()) + ta.ByteOffset()),
              ta.ElementLength()};
    }
  }
  ThrowType(env, std::string(what) + " must be a Uint32Array");
}

Capacity GetCapacity(Napi::Env env, const Napi::Value& v) {
  if (v.IsNumber()) {
    double d = v.As<Napi::Number>().DoubleValue();
    if (!(d >= 0 && d <= 0xffffffffu)) ThrowRange(env, "capacity out of range");
    return {static_cast<uint32_t>(d), nullptr, SIZE_MAX};
  }
  U32s each = GetU32s(env, v, "capacity");
  return {0, each.data, each.length};
}

double* GetStats(Napi::Env env, const Napi::Value& v) {
  if (v.IsUndefined() || v.IsNull()) return nullptr;
  if (v.IsTypedArray()) {
    Napi::TypedArray ta = v.As<Napi::TypedArray>();
    if (ta.TypedArrayType() == napi_float64_array && ta.ElementLength() >= STAT_COUNT) {
      Napi::ArrayBuffer ab = ta.ArrayBuffer();
      return reinterpret_cast<double*>(static_cast<uint8_t*>(ab.Data()) + ta.ByteOffset());
    }
  }
  ThrowType(env, "stats must be a Float64Array of at least " + std::to_string(STAT_COUNT) + " entries");
}

int32_t GetInt32(Napi::Env env, const Napi::Value& v, const char* what) {
  if (!v.IsNumber()) ThrowType(env, std::string(what) + " must be a number");
  return v.As<Napi::Number>().Int32Value();
}

uint32_t GetUint32(Napi::Env env, const Napi::Value& v, const char* what) {
  if (!v.IsNumber()) ThrowType(env, std::string(what) + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 0 && d <= 0xffffffffu)) ThrowRange(env, std::string(what) + " out of range");
  return static_cast<uint32_t>(d);
}

std::string GetOptionalString(Napi::Env env, const Napi::Value& v, const char* what) {
  if (v.IsUndefined() || v.IsNull()) return std::string();
  if (!v.IsString()) ThrowType(env, std::string(what) + " must be a string");
  return v.As<Napi::String>().Utf8Value();
}

Slots GetSlots(Napi::Env env, const Napi::CallbackInfo& info, size_t first, bool withCapacity) {
  Slots s;
  s.mem = GetBytes(env, info[first], "mem");
  s.offsets = GetU32s(env, info[first + 1], "offsets");
  if (withCapacity) s.capacity = GetCapacity(env, info[first + 2]);
  else s.capacity = {0, nullptr, SIZE_MAX};
  s.lengths = GetU32s(env, info[first + 3], "lengths");
  s.start = GetUint32(env, info[first + 4], "start");
  s.count = GetUint32(env, info[first + 5], "count");
  uint64_t end = uint64_t(s.start) + s.count;
  if (end > s.offsets.length || end > s.lengths.length || (withCapacity && end > s.capacity.length))
    ThrowRange(env, "start + count exceeds the slot arrays");
  for (uint32_t i = s.start; i < end; i++) {
    uint64_t o = s.offsets.data[i];
    uint64_t n = withCapacity ? s.capacity.at(i) : s.lengths.data[i];
    if (o + n > s.mem.length)
      ThrowRange(env, "slot " + std::to_string(i) + " [" + std::to_string(o) + ", +" + std::to_string(n) +
                          ") lies outside mem (" + std::to_string(s.mem.length) + " bytes)");
  }
  return s;
}

}  // namespace weft
