#include "redis/uv_attach.h"

namespace cw::redis {
namespace {

struct Watch {
  redisAsyncContext* context = nullptr;  // null once hiredis let go of it
  uv_poll_t poll{};
  int events = 0;  // what hiredis asked to be told about
};

void OnPoll(uv_poll_t* poll, int status, int events) {
  auto* w = static_cast<Watch*>(poll->data);
  // On an error libuv reports no events and stops the poll: let hiredis try what it was
  // waiting for; the read or write fails and hiredis disconnects (or fails the connect).
  const int ready = status != 0 ? w->events : events;
  if (w->context != nullptr && (ready & UV_READABLE) != 0) redisAsyncHandleRead(w->context);
  if (w->context != nullptr && (ready & UV_WRITABLE) != 0) redisAsyncHandleWrite(w->context);
}

void Update(Watch* w) {
  if (w->events != 0) {
    uv_poll_start(&w->poll, w->events, &OnPoll);
  } else {
    uv_poll_stop(&w->poll);
  }
}

// hiredis's add/del read/write hooks: one flag on or off, then the poll follows.
template <int kFlag, bool kOn>
void Toggle(void* data) {
  auto* w = static_cast<Watch*>(data);
  w->events = kOn ? (w->events | kFlag) : (w->events & ~kFlag);
  Update(w);
}

void Cleanup(void* data) {
  auto* w = static_cast<Watch*>(data);
  w->context = nullptr;  // hiredis is freeing it; the handle goes once libuv has closed it
  uv_close(reinterpret_cast<uv_handle_t*>(&w->poll),
           [](uv_handle_t* h) { delete static_cast<Watch*>(h->data); });
}

}  // namespace

bool AttachToLoop(redisAsyncContext* ac, uv_loop_t* loop) {
  if (ac->ev.data != nullptr) return false;
  auto* w = new Watch;
  if (uv_poll_init(loop, &w->poll, ac->c.fd) != 0) {
    delete w;
    return false;
  }
  w->poll.data = w;
  w->context = ac;
  ac->ev.data = w;
  ac->ev.addRead = &Toggle<UV_READABLE, true>;
  ac->ev.delRead = &Toggle<UV_READABLE, false>;
  ac->ev.addWrite = &Toggle<UV_WRITABLE, true>;
  ac->ev.delWrite = &Toggle<UV_WRITABLE, false>;
  ac->ev.cleanup = &Cleanup;
  return true;
}

}  // namespace cw::redis
