#pragma once

#include <hiredis/async.h>
#include <uv.h>

namespace cw::redis {

/// Drives a hiredis async context from a libuv loop, as hiredis's own libuv adapter does, with
/// one difference that matters: a poll error is handed to hiredis as a read/write event so it
/// sees the socket's error and disconnects. Debian's hiredis 0.14 adapter drops poll errors,
/// and libuv stops polling after one (a reset from a Redis killed with unread commands is
/// one): the context then looks connected forever, and everything sent on it is never
/// answered. Queued commands of a connected context are written at the end of the loop turn
/// (before the loop polls), without arming the poll for writability each time. Returns false
/// if the context could not be attached.
bool AttachToLoop(redisAsyncContext* ac, uv_loop_t* loop);

}  // namespace cw::redis
