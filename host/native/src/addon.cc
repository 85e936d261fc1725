#include "common.h"

namespace weft {

Napi::Object InitAll(Napi::Env env, Napi::Object exports) {
  InitTun(env, exports);
  InitFdBatch(env, exports);
  InitSocket(env, exports);
  InitPoller(env, exports);
  InitEpoll(env, exports);
  InitEngine(env, exports);
  InitAot(env, exports);
  Napi::Object stat = Napi::Object::New(env);
  stat.Set("PACKETS", Napi::Number::New(env, STAT_PACKETS));
  stat.Set("BYTES", Napi::Number::New(env, STAT_BYTES));
  stat.Set("CALLS", Napi::Number::New(env, STAT_CALLS));
  stat.Set("WOULD_BLOCK", Napi::Number::New(env, STAT_WOULD_BLOCK));
  stat.Set("ERRORS", Napi::Number::New(env, STAT_ERRORS));
  stat.Set("LAST_ERRNO", Napi::Number::New(env, STAT_LAST_ERRNO));
  stat.Set("TRUNCATED", Napi::Number::New(env, STAT_TRUNCATED));
  stat.Set("SYSCALLS", Napi::Number::New(env, STAT_SYSCALLS));
  stat.Set("KERNEL_DROPS", Napi::Number::New(env, STAT_KERNEL_DROPS));
  stat.Set("GSO_SENDS", Napi::Number::New(env, STAT_GSO_SENDS));
  stat.Set("GSO_SEGMENTS", Napi::Number::New(env, STAT_GSO_SEGMENTS));
  stat.Set("GSO_FALLBACKS", Napi::Number::New(env, STAT_GSO_FALLBACKS));
  stat.Set("GRO_DATAGRAMS", Napi::Number::New(env, STAT_GRO_DATAGRAMS));
  stat.Set("GRO_SEGMENTS", Napi::Number::New(env, STAT_GRO_SEGMENTS));
  stat.Set("GRO_IN_PLACE", Napi::Number::New(env, STAT_GRO_IN_PLACE));
  stat.Set("COUNT", Napi::Number::New(env, STAT_COUNT));
  exports.Set("STAT", stat);
  exports.Set("ABI", Napi::Number::New(env, 2));
  return exports;
}

}  // namespace weft

static Napi::Object Init(Napi::Env env, Napi::Object exports) { return weft::InitAll(env, exports); }

NODE_API_MODULE(weft_io, Init)
