#include "redis/uv_attach.h"

namespace cw::redis {
namespace {

// One hiredis context on the loop. Reads: a poll that stays armed while hiredis wants them.
// Writes: hiredis asks for one whenever it has queued bytes; arming the poll for writability
// each time costs libuv two epoll_ctl calls on and two off (uv_poll_start re-registers the fd),
// several per loop turn on a busy connection. So a connected context's queued bytes are
// written at the end of the turn instead (a prepare handle, just before the loop polls), and
// the poll waits for writability only when the socket would not take them all.
struct Watch {
  redisAsyncContext* context = nullptr;  // null once hiredis let go of it
  uv_poll_t poll{};
  uv_prepare_t flush{};
  int events = 0;            // what the poll waits for
  bool wants_read = false;   // what hiredis asked for
  bool wants_write = false;
  bool flushing = false;     // in OnFlush: hiredis asking again means the socket is full
  int open_handles = 2;      // freed when both handles are closed
};

void OnPoll(uv_poll_t* poll, int status, int events);

void SetPollEvents(Watch* w, int events) {
  if (events == w->events) return;  // uv_poll_start again would re-register the fd for nothing
  w->events = events;
  if (events != 0) {
    uv_poll_start(&w->poll, events, &OnPoll);
  } else {
    uv_poll_stop(&w->poll);
  }
}

// What the poll should wait for: reads as hiredis asked; writability only when a flush at the
// end of the turn cannot do (not connected yet: connect completion shows as writability; or
// the socket's buffer is full).
int PollEvents(const Watch* w, bool write_pending) {
  return (w->wants_read ? UV_READABLE : 0) | (write_pending ? UV_WRITABLE : 0);
}

void OnPoll(uv_poll_t* poll, int status, int events) {
  auto* w = static_cast<Watch*>(poll->data);
  // On an error libuv reports no events and stops the poll: let hiredis try what it was
  // waiting for; the read or write fails and hiredis disconnects (or fails the connect).
  if (status != 0) w->events = 0;  // stopped by libuv: a later start must not be skipped
  const int ready = status != 0 ? (UV_READABLE | (w->wants_write ? UV_WRITABLE : 0)) : events;
  if (w->context != nullptr && (ready & UV_READABLE) != 0) redisAsyncHandleRead(w->context);
  if (w->context != nullptr && (ready & UV_WRITABLE) != 0) redisAsyncHandleWrite(w->context);
}

void OnFlush(uv_prepare_t* prepare) {
  auto* w = static_cast<Watch*>(prepare->data);
  uv_prepare_stop(prepare);
  if (w->context == nullptr || !w->wants_write) return;
  w->flushing = true;
  redisAsyncHandleWrite(w->context);  // calls delWrite when all went out, addWrite if not
  w->flushing = false;
  if (w->context != nullptr && w->wants_write) SetPollEvents(w, PollEvents(w, true));
}

bool Connected(const Watch* w) {
  return w->context != nullptr && (w->context->c.flags & REDIS_CONNECTED) != 0;
}

void AddRead(void* data) {
  auto* w = static_cast<Watch*>(data);
  w->wants_read = true;
  SetPollEvents(w, w->events | UV_READABLE);
}

void DelRead(void* data) {
  auto* w = static_cast<Watch*>(data);
  w->wants_read = false;
  SetPollEvents(w, w->events & ~UV_READABLE);
}

void AddWrite(void* data) {
  auto* w = static_cast<Watch*>(data);
  w->wants_write = true;
  // Already waiting for the socket to drain, or about to (OnFlush arms the poll).
  if (w->flushing || (w->events & UV_WRITABLE) != 0) return;
  if (Connected(w)) {
    uv_prepare_start(&w->flush, &OnFlush);  // no-op if already started this turn
  } else {
    SetPollEvents(w, PollEvents(w, true));
  }
}

void DelWrite(void* data) {
  auto* w = static_cast<Watch*>(data);
  w->wants_write = false;
  SetPollEvents(w, PollEvents(w, false));
}

void Closed(uv_handle_t* handle) {
  auto* w = static_cast<Watch*>(handle->data);
  if (--w->open_handles == 0) delete w;
}

void Cleanup(void* data) {
  auto* w = static_cast<Watch*>(data);
  w->context = nullptr;  // hiredis is freeing it; the handles go once libuv has closed them
  uv_close(reinterpret_cast<uv_handle_t*>(&w->poll), &Closed);
  uv_close(reinterpret_cast<uv_handle_t*>(&w->flush), &Closed);
}

}  // namespace

bool AttachToLoop(redisAsyncContext* ac, uv_loop_t* loop) {
  if (ac->ev.data != nullptr) return false;
  auto* w = new Watch;
  if (uv_poll_init(loop, &w->poll, ac->c.fd) != 0) {
    delete w;
    return false;
  }
  uv_prepare_init(loop, &w->flush);
  w->poll.data = w;
  w->flush.data = w;
  w->context = ac;
  ac->ev.data = w;
  ac->ev.addRead = &AddRead;
  ac->ev.delRead = &DelRead;
  ac->ev.addWrite = &AddWrite;
  ac->ev.delWrite = &DelWrite;
  ac->ev.cleanup = &Cleanup;
  return true;
}

}  // namespace cw::redis
