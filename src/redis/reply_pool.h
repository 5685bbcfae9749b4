// hiredis reply objects for the async engine's readers, from per-thread free lists.
//
// hiredis 0.14 builds every reply with two mallocs (the redisReply, and its text) and frees
// both once the callback returns: for a drained backlog that is eight allocations per task
// (three integer replies to the ack and the result store, three elements per fetched message).
// These builders put a reply and its text in one block and keep freed blocks by size class, so
// the steady state allocates none. Array element vectors, and blocks above the largest class,
// come from malloc as before. Under AddressSanitizer blocks are freed, not kept, so a use after
// free is still caught.
#pragma once

#include <hiredis/read.h>

namespace cw::redis {

/// hiredis reader functions building pooled replies; `free_object` is what frees one (a whole
/// tree: array elements too). Set on a reader with ReaderUsePooledReplies.
redisReplyObjectFunctions PooledReplyFunctions(void (*free_object)(void*));
/// Frees a reply tree built by the pooled functions.
void FreePooledReply(void* reply);

}  // namespace cw::redis
