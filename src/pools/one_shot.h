// A one-shot libuv timer for time limits: calls `fire` on the loop unless destroyed first.
#pragma once

#include <uv.h>

#include <functional>

namespace cw::pools {

// Stopped when it goes out of scope, so `fire` may refer to the caller's frame.
class OneShot {
 public:
  OneShot(uv_loop_t* loop, double seconds, std::function<void()> fire) : fire_(std::move(fire)) {
    timer_ = new uv_timer_t;
    uv_timer_init(loop, timer_);
    timer_->data = this;
    // The loop's clock is only refreshed per turn; a prefork child's loop may have been
    // blocked reading its next job for minutes, and the timer must count from now.
    uv_update_time(loop);
    uv_timer_start(
        timer_, [](uv_timer_t* t) { static_cast<OneShot*>(t->data)->fire_(); },
        static_cast<uint64_t>(seconds * 1000.0 + 0.5), 0);
  }
  ~OneShot() {
    uv_timer_stop(timer_);
    uv_close(reinterpret_cast<uv_handle_t*>(timer_),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
  }
  OneShot(const OneShot&) = delete;
  OneShot& operator=(const OneShot&) = delete;

 private:
  uv_timer_t* timer_;
  std::function<void()> fire_;
};

}  // namespace cw::pools
