// Celery's shutdown signals, handled on a thread of their own (sigwait), because in the solo
// pool the main thread is busy running the task when the signal arrives.
//   SIGTERM, first SIGINT -> warm shutdown; second SIGTERM/SIGINT, SIGQUIT -> cold shutdown.
#pragma once

namespace cw::worker {

class Worker;

/// Blocks SIGINT/SIGTERM/SIGQUIT in the calling thread (call it before any other thread
/// starts, so every thread inherits the mask) and ignores SIGPIPE (a dropped Redis socket must
/// be an error return, not a dead worker).
void BlockShutdownSignals();

/// Starts the detached signal thread that drives `worker`'s shutdown.
void StartSignalThread(Worker& worker);

}  // namespace cw::worker
