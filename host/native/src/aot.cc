// The ahead-of-time compiled data plane (`datapath.runtime: wasm2c`, docs/AOT.md): the same
// AssemblyScript module, built without SIMD (asconfig target "scalar") and translated to C by
// wasm2c at build time (host/native/aot/generate.mjs), linked into this addon. Each instance has
// its own linear memory and globals, exactly as a WebAssembly.Instance of build/weft.wasm would;
// JS reaches its exports through aotCall and its memory through one ArrayBuffer (aotMemory), and
// the engine (engine.cc, engineRun) calls loopBatch directly, so a wake-up of the native loop runs
// no JS and no V8 at all between the wait and the writes.
//
// The runtime functions the generated code needs (wasm-rt.h) are implemented here, not taken from
// wabt's wasm-rt-impl.c, because the addon runs inside node: no signal handler (V8 has its own), so
// the code is generated with explicit bounds checks (WASM_RT_MEMCHECK_SIGNAL_HANDLER 0); a trap
// longjmps to a per-thread target set around every call into the module (worker threads run their
// own instances at the same time); the memory is reserved once at its maximum and committed as it
// grows, so its address never changes and an ArrayBuffer over it stays valid.
#include <setjmp.h>
#include <sys/mman.h>

#include <cstdarg>
#include <cstring>
#include <mutex>
#include <vector>

#include "common.h"
#include "aot.h"

namespace weft {

#if WEFT_AOT

namespace {

constexpr uint64_t kPage = 65536;

thread_local jmp_buf* tlsTrapTarget = nullptr;

struct AotExport {
  const char* name;
  uint32_t arity;
  bool returnsValue;
  uint32_t (*thunk)(Z_weft_instance_t*, const uint32_t*);
};

#include "../gen/aot_exports.inc"

constexpr size_t kExportCount = sizeof(kAotExports) / sizeof(kAotExports[0]);
constexpr uint32_t kMaxArity = 9;

const char* TrapName(int code) {
  switch (code) {
    case WASM_RT_TRAP_OOB: return "out-of-bounds memory access";
    case WASM_RT_TRAP_INT_OVERFLOW: return "integer overflow";
    case WASM_RT_TRAP_DIV_BY_ZERO: return "integer divide by zero";
    case WASM_RT_TRAP_INVALID_CONVERSION: return "invalid conversion";
    case WASM_RT_TRAP_UNREACHABLE: return "unreachable (the module aborted)";
    case WASM_RT_TRAP_CALL_INDIRECT: return "invalid indirect call";
    default: return "trap";
  }
}

// Runs f() with this thread's trap target set; returns 0, or the trap code. Only C frames (the
// generated code) lie between the setjmp and a trap's longjmp.
template <typename F>
int Guarded(F&& f) {
  jmp_buf target;
  jmp_buf* prev = tlsTrapTarget;
  tlsTrapTarget = &target;
  int code = setjmp(target);
  if (code == 0) f();
  tlsTrapTarget = prev;
  return code;
}

std::once_flag moduleInit;

}  // namespace

// Owned by its JS handle and by every ArrayBuffer over its memory: freed when the last is collected.
struct AotInstance {
  Z_weft_instance_t inst;
  bool live = false;
  int owners = 0;
  napi_ref buffer = nullptr;  // weak: the ArrayBuffer over the memory for its current size
  uint32_t bufferSize = 0;
};

int AotLoopBatch(AotInstance* a, uint32_t* result) {
  return Guarded([&] { *result = Z_weftZ_loopBatch(&a->inst); });
}

const char* AotTrapName(int code) { return TrapName(code); }

namespace {

AotInstance* GetAot(napi_env env, napi_value v) {
  void* data = nullptr;
  if (napi_get_value_external(env, v, &data) != napi_ok || !data) ThrowType(Napi::Env(env), "aot must be an AOT instance handle");
  AotInstance* a = static_cast<AotInstance*>(data);
  return a;
}

void Unown(AotInstance* a) {
  if (--a->owners > 0) return;
  if (a->live) Z_weft_free(&a->inst);
  delete a;
}

// aotCreate() -> handle: a new instance (its start function run), or throws.
Napi::Value AotCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::call_once(moduleInit, [] { Z_weft_init_module(); });
  AotInstance* a = new AotInstance();
  std::memset(&a->inst, 0, sizeof a->inst);
  int trap = Guarded([&] { Z_weft_instantiate(&a->inst, nullptr); });
  if (trap) {
    if (a->inst.w2c_memory.data) Z_weft_free(&a->inst);
    delete a;
    ThrowType(env, std::string("the AOT data plane trapped while instantiating: ") + TrapName(trap));
  }
  a->live = true;
  a->owners = 1;
  return Napi::External<AotInstance>::New(env, a, [](Napi::Env env, AotInstance* a) {
    if (a->buffer) napi_delete_reference(env, a->buffer);
    a->buffer = nullptr;
    Unown(a);
  });
}

// aotExports() -> [[name, arity, returnsValue], ...] in aotCall's index order.
Napi::Value AotExports(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array r = Napi::Array::New(env, kExportCount);
  for (size_t i = 0; i < kExportCount; i++) {
    Napi::Array e = Napi::Array::New(env, 3);
    e.Set(0u, kAotExports[i].name);
    e.Set(1u, kAotExports[i].arity);
    e.Set(2u, kAotExports[i].returnsValue);
    r.Set(static_cast<uint32_t>(i), e);
  }
  return r;
}

// aotCall(handle, index, ...args) -> the export's i32 result (signed, as V8 returns it) or
// undefined. Missing arguments are 0 and numbers are taken modulo 2^32, as a Wasm call from JS
// does. A trap throws.
Napi::Value AotCall(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  AotInstance* a = GetAot(env, info[0]);
  uint32_t idx = GetUint32(env, info[1], "index");
  if (idx >= kExportCount) ThrowRange(env, "export index out of range");
  const AotExport& ex = kAotExports[idx];
  uint32_t args[kMaxArity] = {0};
  for (uint32_t i = 0; i < ex.arity && i < kMaxArity && i + 2 < info.Length(); i++) {
    napi_value v = info[i + 2];
    int32_t x = 0;
    if (napi_get_value_int32(env, v, &x) != napi_ok) {
      bool b = false;
      if (napi_get_value_bool(env, v, &b) == napi_ok) x = b ? 1 : 0;
    }
    args[i] = static_cast<uint32_t>(x);
  }
  uint32_t result = 0;
  int trap = Guarded([&] { result = ex.thunk(&a->inst, args); });
  if (trap) ThrowType(env, std::string("the AOT data plane trapped in ") + ex.name + ": " + TrapName(trap));
  if (!ex.returnsValue) return env.Undefined();
  return Napi::Number::New(env, static_cast<int32_t>(result));
}

// aotMemory(handle) -> ArrayBuffer over the whole linear memory (the same one while the size is
// unchanged; the memory's address never changes, so earlier buffers stay valid for what they cover).
Napi::Value AotMemory(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  AotInstance* a = GetAot(env, info[0]);
  wasm_rt_memory_t& m = a->inst.w2c_memory;
  if (a->buffer && a->bufferSize == m.size) {
    napi_value v = nullptr;
    napi_get_reference_value(env, a->buffer, &v);
    if (v) return Napi::Value(env, v);
  }
  napi_value ab;
  // Each ArrayBuffer co-owns the instance, so the memory outlives every view of it.
  a->owners++;
  if (napi_create_external_arraybuffer(env, m.data, m.size, [](napi_env, void*, void* hint) { Unown(static_cast<AotInstance*>(hint)); }, a, &ab) != napi_ok) {
    a->owners--;
    ThrowType(env, "cannot wrap the AOT memory in an ArrayBuffer");
  }
  if (a->buffer) napi_delete_reference(env, a->buffer);
  napi_create_reference(env, ab, 0, &a->buffer);
  a->bufferSize = m.size;
  return Napi::Value(env, ab);
}

}  // namespace

AotInstance* GetAotInstance(napi_env env, napi_value v) { return GetAot(env, v); }

#else  // !WEFT_AOT

struct AotInstance {};
int AotLoopBatch(AotInstance*, uint32_t*) { return -1; }
const char* AotTrapName(int) { return "AOT data plane not built"; }
AotInstance* GetAotInstance(napi_env env, napi_value) {
  ThrowType(Napi::Env(env), std::string("the AOT data plane was not built: ") + WEFT_AOT_MISSING);
}

namespace {
Napi::Value NotBuilt(const Napi::CallbackInfo& info) {
  ThrowType(info.Env(), std::string("the AOT data plane was not built: ") + WEFT_AOT_MISSING);
}
}  // namespace

#endif

void InitAot(Napi::Env env, Napi::Object exports) {
#if WEFT_AOT
  exports.Set("aotAvailable", Napi::Boolean::New(env, true));
  exports.Set("aotCreate", Napi::Function::New(env, AotCreate, "aotCreate"));
  exports.Set("aotExports", Napi::Function::New(env, AotExports, "aotExports"));
  exports.Set("aotCall", Napi::Function::New(env, AotCall, "aotCall"));
  exports.Set("aotMemory", Napi::Function::New(env, AotMemory, "aotMemory"));
#else
  exports.Set("aotAvailable", Napi::Boolean::New(env, false));
  exports.Set("aotMissing", Napi::String::New(env, WEFT_AOT_MISSING));
  for (const char* n : {"aotCreate", "aotExports", "aotCall", "aotMemory"})
    exports.Set(n, Napi::Function::New(env, NotBuilt, n));
#endif
}

}  // namespace weft

#if WEFT_AOT
// ---- the wasm-rt functions the generated code calls (see the file comment) -----------------------
extern "C" {

bool wasm_rt_is_initialized(void) { return true; }

void wasm_rt_trap(wasm_rt_trap_t code) {
  if (weft::tlsTrapTarget) longjmp(*weft::tlsTrapTarget, code == WASM_RT_TRAP_NONE ? -1 : static_cast<int>(code));
  abort();  // a call into the module without a target: a bug in this file
}

// Function types, deduplicated (the module registers its types once; call_indirect compares them).
static std::mutex gTypesLock;
static std::vector<std::vector<uint32_t>> gTypes;

uint32_t wasm_rt_register_func_type(uint32_t params, uint32_t results, ...) {
  std::vector<uint32_t> sig{params, results};
  va_list ap;
  va_start(ap, results);
  for (uint32_t i = 0; i < params + results; i++) sig.push_back(va_arg(ap, uint32_t));
  va_end(ap);
  std::lock_guard<std::mutex> g(gTypesLock);
  for (size_t i = 0; i < gTypes.size(); i++) if (gTypes[i] == sig) return static_cast<uint32_t>(i);
  gTypes.push_back(std::move(sig));
  return static_cast<uint32_t>(gTypes.size() - 1);
}

// Linear memory: max_pages reserved (no access), the first `pages` committed read-write.
void wasm_rt_allocate_memory(wasm_rt_memory_t* m, uint32_t initial, uint32_t max) {
  if (max > 65536) max = 65536;
  uint64_t reserve = static_cast<uint64_t>(max) * weft::kPage;
  void* p = mmap(nullptr, reserve ? reserve : weft::kPage, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) wasm_rt_trap(WASM_RT_TRAP_OOB);
  if (initial && mprotect(p, initial * weft::kPage, PROT_READ | PROT_WRITE) != 0) {
    munmap(p, reserve);
    wasm_rt_trap(WASM_RT_TRAP_OOB);
  }
  m->data = static_cast<uint8_t*>(p);
  m->pages = initial;
  m->max_pages = max;
  m->size = static_cast<uint32_t>(initial * weft::kPage);
}

uint32_t wasm_rt_grow_memory(wasm_rt_memory_t* m, uint32_t delta) {
  uint32_t old = m->pages;
  uint64_t want = static_cast<uint64_t>(old) + delta;
  if (want > m->max_pages) return 0xffffffffu;
  if (delta == 0) return old;
  if (mprotect(m->data + old * weft::kPage, delta * weft::kPage, PROT_READ | PROT_WRITE) != 0) return 0xffffffffu;
  m->pages = static_cast<uint32_t>(want);
  // A 4 GiB memory's size does not fit the 32-bit field; the module never grows that far.
  m->size = want * weft::kPage > 0xffffffffull ? 0xffffffffu : static_cast<uint32_t>(want * weft::kPage);
  return old;
}

void wasm_rt_free_memory(wasm_rt_memory_t* m) {
  if (m->data) munmap(m->data, static_cast<uint64_t>(m->max_pages ? m->max_pages : 1) * weft::kPage);
  m->data = nullptr;
  m->size = 0;
  m->pages = 0;
}

// The module's only import: AssemblyScript's abort (assembly/ never throws; reaching it is a bug).
void Z_envZ_abort(struct Z_env_instance_t*, u32, u32, u32, u32) { wasm_rt_trap(WASM_RT_TRAP_UNREACHABLE); }

}  // extern "C"
#endif
