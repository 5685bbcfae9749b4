#include "worker/shutdown.h"

#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <thread>

#include "worker/worker.h"

namespace cw::worker {
namespace {

sigset_t ShutdownSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGQUIT);
  return set;
}

// Celery writes these to stderr outside the logging format; scripts grep for them.
void Say(const char* text) {
  std::fprintf(stderr, "\n%s\n", text);
  std::fflush(stderr);
}

}  // namespace

void BlockShutdownSignals() {
  const sigset_t set = ShutdownSignals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

void StartSignalThread(Worker& worker) {
  std::thread([&worker] {
    const sigset_t set = ShutdownSignals();
    bool warm_requested = false;
    for (;;) {
      int sig = 0;
      if (sigwait(&set, &sig) != 0) continue;
      if (sig == SIGQUIT || warm_requested) {
        Say("worker: Cold shutdown (MainProcess)");
        worker.ColdShutdown();
      }
      warm_requested = true;
      if (sig == SIGINT) Say("worker: Hitting Ctrl+C again will terminate all running tasks!");
      Say("worker: Warm shutdown (MainProcess)");
      worker.RequestWarmShutdown();
    }
  }).detach();
}

}  // namespace cw::worker
