// cw::http on libcurl. libcurl does the HTTP (TLS, redirects, chunking, keep-alive); this file
// only drives it and maps its errors onto Python's builtin exceptions, so a task that fails on
// the network fails the way a Python task using urllib would.
//
// Two drivers, one request setup:
//  - in a green fiber: libcurl's multi-socket interface on the scheduler's libuv loop (one multi
//    handle per loop, so its connection cache is shared by every task); the fiber parks until
//    its transfer is done;
//  - elsewhere (solo, prefork, plain threads): curl_easy_perform on a handle kept per thread,
//    so consecutive calls reuse connections.
#include <cworker/http.h>

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <memory>
#include <mutex>

#include <cworker/errors.h>

#include "green/waits.h"

namespace cw::http {
namespace {

void GlobalInitOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

size_t OnBody(char* data, size_t size, size_t count, void* user) {
  static_cast<Response*>(user)->body.append(data, size * count);
  return size * count;
}

size_t OnHeader(char* data, size_t size, size_t count, void* user) {
  const std::string line(data, size * count);
  const size_t colon = line.find(':');
  if (colon != std::string::npos) {
    std::string name = line.substr(0, colon);
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    std::string value = line.substr(colon + 1);
    const size_t first = value.find_first_not_of(" \t");
    const size_t last = value.find_last_not_of(" \t\r\n");
    value = first == std::string::npos ? "" : value.substr(first, last - first + 1);
    static_cast<Response*>(user)->headers[name] = value;
  }
  return size * count;
}

struct CurlDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using EasyHandle = std::unique_ptr<CURL, CurlDeleter>;
using HeaderList = std::unique_ptr<curl_slist, SlistDeleter>;

// Sets up `c` for one request; the returned header list must outlive the transfer.
HeaderList Configure(CURL* c, const std::string& url, const std::string* post_body,
                     const RequestOptions& options, Response* response) {
  HeaderList headers;
  bool has_content_type = false;
  for (const auto& [name, value] : options.headers) {
    std::string lower = name;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
    has_content_type |= lower == "content-type";
    headers.reset(curl_slist_append(headers.release(), (name + ": " + value).c_str()));
  }
  if (post_body != nullptr && !has_content_type) {
    headers.reset(curl_slist_append(headers.release(), "Content-Type: application/json"));
  }
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);  // no SIGALRM for DNS timeouts in a worker
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(options.timeout.count()));
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &OnBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, response);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, &OnHeader);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, response);
  if (headers) curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  if (post_body != nullptr) {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, post_body->data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(post_body->size()));
  }
  return headers;
}

void Check(CURLcode rc, const std::string& url) {
  if (rc == CURLE_OPERATION_TIMEDOUT) throw TimeoutError("HTTP request to " + url + " timed out");
  if (rc != CURLE_OK) {
    throw ConnectionError("HTTP request to " + url + " failed: " + curl_easy_strerror(rc));
  }
}

// ----- green: the multi-socket driver on the scheduler's loop ----------------------------------

class MultiDriver {
 public:
  explicit MultiDriver(uv_loop_t* loop) : loop_(loop), multi_(curl_multi_init()) {
    timer_ = new uv_timer_t;
    uv_timer_init(loop_, timer_);
    timer_->data = this;
    curl_multi_setopt(multi_, CURLMOPT_SOCKETFUNCTION, &MultiDriver::OnSocket);
    curl_multi_setopt(multi_, CURLMOPT_SOCKETDATA, this);
    curl_multi_setopt(multi_, CURLMOPT_TIMERFUNCTION, &MultiDriver::OnTimer);
    curl_multi_setopt(multi_, CURLMOPT_TIMERDATA, this);
  }
  ~MultiDriver() {
    curl_multi_cleanup(multi_);  // closes cached connections (CURL_POLL_REMOVE for each)
    uv_timer_stop(timer_);
    uv_close(reinterpret_cast<uv_handle_t*>(timer_),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
  }
  MultiDriver(const MultiDriver&) = delete;
  MultiDriver& operator=(const MultiDriver&) = delete;

  // Runs `easy` to completion, parking the calling fiber meanwhile.
  CURLcode Perform(CURL* easy) {
    Transfer t{green::CurrentFiber()};
    curl_easy_setopt(easy, CURLOPT_PRIVATE, &t);
    curl_multi_add_handle(multi_, easy);
    try {
      green::WaitFor([&] { return t.done; });
    } catch (...) {  // interrupted (time limit): abandon the transfer
      curl_multi_remove_handle(multi_, easy);
      throw;
    }
    return t.result;
  }

 private:
  struct Transfer {
    green::Fiber* fiber;
    bool done = false;
    CURLcode result = CURLE_OK;
  };
  struct Socket {
    uv_poll_t poll;
    curl_socket_t fd;
    MultiDriver* driver;
  };

  static int OnSocket(CURL* /*easy*/, curl_socket_t fd, int what, void* userp, void* socketp) {
    auto* self = static_cast<MultiDriver*>(userp);
    auto* sock = static_cast<Socket*>(socketp);
    if (what == CURL_POLL_REMOVE) {
      if (sock != nullptr) {
        uv_poll_stop(&sock->poll);
        uv_close(reinterpret_cast<uv_handle_t*>(&sock->poll),
                 [](uv_handle_t* h) { delete static_cast<Socket*>(h->data); });
        curl_multi_assign(self->multi_, fd, nullptr);
      }
      return 0;
    }
    if (sock == nullptr) {
      sock = new Socket{{}, fd, self};
      if (uv_poll_init_socket(self->loop_, &sock->poll, fd) != 0) {
        delete sock;
        return -1;
      }
      sock->poll.data = sock;
      curl_multi_assign(self->multi_, fd, sock);
    }
    const int events = ((what & CURL_POLL_IN) != 0 ? UV_READABLE : 0) |
                       ((what & CURL_POLL_OUT) != 0 ? UV_WRITABLE : 0);
    uv_poll_start(&sock->poll, events, [](uv_poll_t* h, int status, int got) {
      auto* s = static_cast<Socket*>(h->data);
      int flags = 0;
      if (status < 0) flags = CURL_CSELECT_ERR;
      if ((got & UV_READABLE) != 0) flags |= CURL_CSELECT_IN;
      if ((got & UV_WRITABLE) != 0) flags |= CURL_CSELECT_OUT;
      MultiDriver* driver = s->driver;  // `s` may be freed by the action below
      int running = 0;
      curl_multi_socket_action(driver->multi_, s->fd, flags, &running);
      driver->Collect();
    });
    return 0;
  }

  static int OnTimer(CURLM* /*multi*/, long timeout_ms, void* userp) {
    auto* self = static_cast<MultiDriver*>(userp);
    if (timeout_ms < 0) {
      uv_timer_stop(self->timer_);
    } else {
      // Never act from inside curl's callback: a 0 ms timer runs at the next loop turn.
      uv_timer_start(
          self->timer_,
          [](uv_timer_t* t) {
            auto* driver = static_cast<MultiDriver*>(t->data);
            int running = 0;
            curl_multi_socket_action(driver->multi_, CURL_SOCKET_TIMEOUT, 0, &running);
            driver->Collect();
          },
          static_cast<uint64_t>(timeout_ms), 0);
    }
    return 0;
  }

  // Finished transfers wake their fibers.
  void Collect() {
    int left = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi_, &left)) {
      if (msg->msg != CURLMSG_DONE) continue;
      CURL* easy = msg->easy_handle;
      const CURLcode result = msg->data.result;
      Transfer* t = nullptr;
      curl_easy_getinfo(easy, CURLINFO_PRIVATE, reinterpret_cast<char**>(&t));
      curl_multi_remove_handle(multi_, easy);
      if (t != nullptr) {
        t->result = result;
        t->done = true;
        green::Wake(t->fiber);
      }
    }
  }

  uv_loop_t* loop_;
  CURLM* multi_;
  uv_timer_t* timer_;
};

MultiDriver& DriverFor(green::Scheduler& scheduler) {
  constexpr const char* kKey = "cw.http.multi";
  if (auto existing = scheduler.Local(kKey)) return *static_cast<MultiDriver*>(existing.get());
  auto driver = std::make_shared<MultiDriver>(scheduler.loop());
  scheduler.SetLocal(kKey, driver);
  return *driver;
}

Response Perform(const std::string& url, const std::string* post_body,
                 const RequestOptions& options) {
  GlobalInitOnce();
  Response response;
  green::Scheduler* scheduler = green::Scheduler::Current();
  if (scheduler != nullptr && green::CurrentFiber() != nullptr) {
    EasyHandle easy(curl_easy_init());
    if (!easy) throw ConnectionError("curl_easy_init failed");
    const HeaderList headers = Configure(easy.get(), url, post_body, options, &response);
    Check(DriverFor(*scheduler).Perform(easy.get()), url);
    curl_easy_getinfo(easy.get(), CURLINFO_RESPONSE_CODE, &response.status);
    return response;
  }
  // One handle per thread: libcurl keeps its connections open for the next call.
  thread_local EasyHandle reused;
  if (!reused) reused.reset(curl_easy_init());
  if (!reused) throw ConnectionError("curl_easy_init failed");
  curl_easy_reset(reused.get());
  const HeaderList headers = Configure(reused.get(), url, post_body, options, &response);
  Check(curl_easy_perform(reused.get()), url);
  curl_easy_getinfo(reused.get(), CURLINFO_RESPONSE_CODE, &response.status);
  return response;
}

}  // namespace

Response Get(const std::string& url, const RequestOptions& options) {
  return Perform(url, nullptr, options);
}

Response Post(const std::string& url, const std::string& body, const RequestOptions& options) {
  return Perform(url, &body, options);
}

}  // namespace cw::http
