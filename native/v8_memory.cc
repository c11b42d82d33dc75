// The one call of the addon that Node-API does not offer: V8's own "give memory back".
#include <v8.h>

/*
 * Tells V8 memory is critically short: a full, compacting GC at once, then the pages it
 * freed are given back to the kernel (a plain full GC keeps them for later allocations,
 * and a manager that idles for months has none). Only on the main thread's isolate.
 */
extern "C" void dm_reduce_v8_memory(void) {
  v8::Isolate *isolate = v8::Isolate::TryGetCurrent();
  if (isolate != nullptr) isolate->MemoryPressureNotification(v8::MemoryPressureLevel::kCritical);
}
