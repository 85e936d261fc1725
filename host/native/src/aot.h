// The ahead-of-time compiled data plane (aot.cc, docs/AOT.md), as the engine sees it.
#pragma once

#include <napi.h>

#include <cstdint>

#include "../gen/aot_config.h"
#if WEFT_AOT
#include "../gen/weft_aot.h"
#endif

namespace weft {

struct AotInstance;

// The instance behind an aotCreate() handle; throws when the addon was built without it.
AotInstance* GetAotInstance(napi_env env, napi_value v);
// Calls the module's loopBatch (assembly/loop.ts); returns 0 and its result, or a trap code.
int AotLoopBatch(AotInstance* a, uint32_t* result);
const char* AotTrapName(int code);

}  // namespace weft
