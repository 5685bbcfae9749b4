// The worker's life, in order (all of it inside the pool: on the main thread for solo, on the
// "consumer" fiber for green):
//   1. Declare the queues (retrying, with Celery-style log lines, while Redis is down).
//   2. Log "Connected to <broker>" and "<node> ready."; Python tests and tooling wait for it.
//   3. Loop: start ETA tasks whose time has come; wait for a free slot in the pool; fetch a
//      batch, or wait for one (at most 1 s, or until the next ETA); hand each to HandleDelivery
//      (message_handler.cc), which starts it in the pool (inline for solo, a fiber for green).
//   4. On warm shutdown the loop ends, the pool finishes the running tasks; every message still
//      held in `unacked` (ETA-held, or popped at the moment of the signal) is put back on its
//      queue, as kombu does when a channel closes, and Run returns 0.
// Cold shutdown happens on the signal thread (shutdown.cc): it restores what is held and
// exits at once, killing the running task.
#include "worker/worker.h"

#include <malloc.h>
#include <unistd.h>

#include <cstdio>
#include <set>
#include <thread>

#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <cw/protocol/keys.h>

#include "green/waits.h"
#include "util/hostname.h"
#include "util/uuid.h"

namespace cw::worker {

Worker::Worker(WorkerOptions options)
    : options_(std::move(options)),
      pool_(pools::MakePool(options_.pool,
                            {.concurrency = options_.concurrency,
                             .stack_size = options_.stack_size,
                             .blocking_threshold = options_.blocking_threshold,
                             .child_command = options_.child_command,
                             .max_tasks_per_child = options_.max_tasks_per_child,
                             .max_memory_per_child_kib = options_.max_memory_per_child_kib})),
      origin_("gen" + std::to_string(getpid()) + "@" + util::Hostname()) {
  transport_ = std::make_unique<broker::RedisTransport>(options_.broker, options_.queues,
                                                        &warm_stop_, &cold_stop_);
  if (options_.backend) {
    backend_ = std::make_unique<backend::RedisBackend>(*options_.backend, options_.result_expires,
                                                       &cold_stop_);
  }
  sink_ = std::make_unique<canvas::RedisSink>(transport_.get(), backend_.get());
  applier_ = std::make_unique<canvas::Applier>(
      sink_.get(), canvas::Router(options_.routes, options_.default_queue), origin_,
      util::Uuid4(), [](const std::string& name) {
        const TaskDescriptor* t = Registry::Global().Find(name);
        return t != nullptr ? t->options.queue : std::string();
      });
  continuations_ = std::make_unique<canvas::Continuations>(applier_.get(), backend_.get());
  events_ = std::make_unique<events::EventDispatcher>(
      events::EventOptions{.broker = options_.broker,
                           .hostname = options_.nodename,
                           .task_events = options_.task_events,
                           .heartbeat = options_.heartbeat,
                           .version = options_.version},
      [this] {
        return Json::MakeObject({{"active", active_.load()}, {"processed", processed_.load()}});
      });
  queues_ = options_.queues;
  if (!options_.statedb.empty()) {
    try {
      revoked_.Load(options_.statedb);
      if (revoked_.size() > 0) {
        spdlog::info("Loaded {} revoked task id(s) from {}", revoked_.size(), options_.statedb);
      }
    } catch (const std::exception& e) {
      // Keep serving: move the bad file aside (for a human to look at) and start empty.
      const std::string aside = options_.statedb + ".corrupt";
      std::rename(options_.statedb.c_str(), aside.c_str());
      spdlog::error("{}; moved it to {} and starting with no revoked ids", e.what(), aside);
    }
  }
  mailbox_ = std::make_unique<control::MailboxServer>(
      options_.broker, options_.nodename,
      [this](const control::ControlRequest& r) { return HandleControl(r); },
      [this](int64_t received) { return events_->Tick(received); });
}

Worker::~Worker() {
  mailbox_->Stop();  // its thread reads members declared after it, destroyed before it
}

Worker::TaskScope::TaskScope(const Worker& w)
    : applier(*w.applier_), continuations(&applier, w.backend_.get()) {}

int Worker::Run() {
  StartHttp();
  pool_->Run([this] { Consume(); });
  ready_.store(false);
  if (lease_keeper_) lease_keeper_->Stop();
  duplicate_check_.reset();
  mailbox_->Stop();  // before the state its commands read goes away
  events_->Stop();   // worker-offline
  http_.reset();
  return 0;
}

void Worker::Consume() {
  try {
    transport_->Declare();
  } catch (const redis::Stopped&) {
    return;  // asked to stop before Redis ever answered
  }
  spdlog::info("Connected to {}", options_.broker.ToString());
  // Remote control listens before "ready.": a `celery inspect` sent on seeing that line (as
  // tools and tests do) must not be published to nobody (pub/sub keeps nothing).
  mailbox_->Start();
  for (int i = 0; i < 600 && !mailbox_->subscribed() && !warm_stop_.load(); ++i) {
    green::SleepFor(std::chrono::milliseconds(5));
  }
  spdlog::info("{} ready.", options_.nodename);
  lease_keeper_ = std::make_unique<LeaseKeeper>(
      options_.broker, options_.queues, options_.visibility_timeout, [this] {
        std::lock_guard lock(held_mutex_);
        return std::vector<std::string>(held_tags_.begin(), held_tags_.end());
      });
  lease_keeper_->Start();
  // Heartbeats come every 2 s: listening for 5 s hears any other worker of the same name.
  duplicate_check_ = std::make_unique<DuplicateNodenameCheck>(options_.broker, options_.nodename, 5);
  events_->Start();  // worker-online, then a heartbeat every 2 s
  ready_.store(true);

  while (!warm_stop_.load()) {
    loop_turned_ms_.store(std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::steady_clock::now().time_since_epoch())
                              .count());
    ApplyQueueChanges();
    RunDueEtaTasks();
    if (EtaHoldFull()) {
      // Leave further messages in Redis (other workers may take them) until one is due.
      green::SleepFor(std::chrono::duration<double>(SecondsToNextEta()));
      continue;
    }
    pool_->WaitForSlot();
    if (warm_stop_.load()) break;
    if (fetched_.empty()) {
      try {
        FetchMore();
      } catch (const redis::Stopped&) {
        break;
      }
      if (warm_stop_.load()) break;  // popped while the signal arrived: restored below
      if (fetched_.empty()) continue;
    }
    broker::Delivery d;
    {
      std::lock_guard lock(control_mutex_);
      d = std::move(fetched_.front());
      fetched_.pop_front();
    }
    MaybeReadAhead();
    try {
      HandleDelivery(d);
    } catch (const std::exception& e) {
      // Not expected (task errors are caught in exec, Redis errors retried): keep serving. The
      // message stays in `unacked` and goes back to its queue at shutdown.
      spdlog::critical("Unexpected error while handling message {}: {}", d.tag, e.what());
    }
  }
  if (reading_ahead_) reading_ahead_->Wait();  // what it pops is tracked, then restored below
  reading_ahead_.reset();
  {
    std::lock_guard lock(control_mutex_);
    fetched_.clear();  // their tags are held: RestoreAllHeld puts them back
  }
  pool_->Drain();
  try {
    transport_->Flush();
    if (backend_) backend_->Flush();
  } catch (const redis::Stopped&) {
  }
  RestoreAllHeld();
}

size_t Worker::Window() const {
  return static_cast<size_t>(std::max(1, pool_->concurrency())) *
         static_cast<size_t>(std::max(1, options_.prefetch_multiplier));
}

// Celery's prefetch window: concurrency x prefetch multiplier messages at most, counting those
// running and those fetched but not started. When messages are queued, that many come in one
// round trip; when none are, the fetch blocks (at most 1 s, or until the next ETA).
void Worker::FetchMore() {
  if (reading_ahead_) {
    reading_ahead_->Wait();  // a pop is on its way: take it rather than pop beside it
    reading_ahead_.reset();
    if (!fetched_.empty()) return;
  }
  const size_t window = Window();
  const size_t busy = static_cast<size_t>(std::max<int64_t>(0, active_.load()));
  size_t room = window > busy ? window - busy : 1;
  if (options_.eta_task_limit > 0) {
    // Any of them may be an ETA task: never fetch more than the ETA hold can still take.
    const size_t held = eta_queue_.size();
    room = std::min(room, held < options_.eta_task_limit ? options_.eta_task_limit - held : 1);
  }
  // Written-behind acks and results: when the queues may be empty (this fetch may wait), read
  // their replies first, so errors are logged before an idle spell. Not while a backlog lasts:
  // waiting for Redis to answer every write would stop the worker at each fetch (the
  // connections bound what is unanswered by themselves).
  if (!queue_had_more_) {
    transport_->Flush();
    if (backend_) backend_->Flush();
  }
  Accept(transport_->FetchBatch(room, SecondsToNextEta()), room);
  if (fetched_.empty() && active_.load() == 0 && !memory_trimmed_) {
    // Idle for a fetch's wait after a busy spell: give the heap pages a burst of tasks freed
    // back to the system (glibc keeps them otherwise: ~45 MB after 10,000 parked fibers).
    malloc_trim(0);
    memory_trimmed_ = true;
  } else if (!fetched_.empty()) {
    memory_trimmed_ = false;
  }
}

// Only while a backlog lasts (the last pop was full), once half the fetched batch is started,
// and for at least a quarter of the window, so each pop stays a batch: the consumer never holds
// more than the window, nor more than the ETA hold could take.
void Worker::MaybeReadAhead() {
  if (reading_ahead_ || !queue_had_more_ || green::CurrentFiber() == nullptr) return;
  const size_t window = Window();
  const size_t have = fetched_.size();
  const size_t busy = static_cast<size_t>(std::max<int64_t>(0, active_.load()));
  if (have > window / 2 || busy + have >= window) return;
  size_t room = window - busy - have;
  if (options_.eta_task_limit > 0) {
    // Any of those fetched, and any popped now, may be an ETA task: the hold must take them all.
    const size_t held = eta_queue_.size() + have;
    room = std::min(room, held < options_.eta_task_limit ? options_.eta_task_limit - held : 0);
  }
  if (room < std::max<size_t>(1, window / 4)) return;
  reading_ahead_ = std::make_shared<green::Event>();
  green::Scheduler::Current()->Spawn(
      [this, done = reading_ahead_, room] {
        try {
          Accept(transport_->PopQueuedNow(room), room);
        } catch (const std::exception& e) {
          // Redis away or stopping: the consumer's own fetch retries and logs.
          queue_had_more_ = false;
          spdlog::debug("Read-ahead fetch failed: {}", e.what());
        }
        done->Set();
      },
      "read-ahead");
}

void Worker::Accept(std::vector<broker::Delivery> batch, size_t asked) {
  queue_had_more_ = batch.size() >= asked;
  for (broker::Delivery& d : batch) {
    if (!d.envelope_ok) {
      // Nothing to ack or answer: the payload never became a message (no tag, no id).
      spdlog::error("Received invalid message on queue {}: {} The message has been dropped: "
                    "{:.200}",
                    d.queue, d.error, d.payload);
      continue;
    }
    Track(d.tag);
    std::lock_guard lock(control_mutex_);
    fetched_.push_back(std::move(d));
  }
}

// `inspect reserved` of a fetched message: what its headers say, before its body is decoded
// (Celery lists the same request fields; args and kwargs are the producer's reprs here). Built
// only when asked, never on the consumer's path. Null when the headers carry no id.
Json Worker::ReservedInfo(const broker::Delivery& d) const {
  const Json* headers = d.envelope.doc.Find("headers");
  auto text = [&](const char* key) {
    const Json* v = headers != nullptr && headers->is_object() ? headers->Find(key) : nullptr;
    return v != nullptr && v->is_string() ? v->as_string() : std::string();
  };
  const std::string id = text("id");
  if (id.empty()) return Json();  // no id in the headers (protocol v1): not listed
  return Json::MakeObject(
      {{"id", id},
       {"name", text("task")},
       {"args", text("argsrepr")},
       {"kwargs", text("kwargsrepr")},
       {"type", text("task")},
       {"hostname", options_.nodename},
       {"time_start", Json()},
       {"acknowledged", false},
       {"delivery_info", Json::MakeObject({{"exchange", d.envelope.exchange},
                                           {"routing_key", d.envelope.routing_key},
                                           {"priority", d.envelope.priority},
                                           {"redelivered", false}})},
       {"worker_pid", Json()}});
}

void Worker::RequestWarmShutdown() { warm_stop_.store(true); }

void Worker::RestoreAllHeld() {
  std::vector<std::string> tags;
  {
    std::lock_guard lock(held_mutex_);
    tags.assign(held_tags_.begin(), held_tags_.end());
  }
  if (tags.empty()) return;
  spdlog::warn("Restoring {} unacknowledged message(s)", tags.size());
  for (const std::string& tag : tags) Restore(tag, false);
  eta_queue_.clear();
  std::lock_guard lock(control_mutex_);
  scheduled_requests_.clear();
  reserved_requests_.clear();
}

void Worker::ApplyQueueChanges() {
  if (!queues_changed_.exchange(false)) return;
  std::vector<std::string> queues;
  {
    std::lock_guard lock(control_mutex_);
    queues = queues_;
  }
  try {
    transport_->SetQueues(queues);
  } catch (const redis::Stopped&) {
    return;
  }
  spdlog::info("Consuming from: {}", fmt::join(queues, ", "));
}

void Worker::ColdShutdown() {
  cold_stop_.store(true);
  warm_stop_.store(true);
  pool_->Terminate();  // prefork: the children die with the running tasks
  // A connection of our own: the main thread may be inside a Redis call right now.
  static const std::atomic<bool> kGiveUpAtOnce{true};
  broker::RedisTransport restorer(options_.broker, options_.queues, &kGiveUpAtOnce,
                                  &kGiveUpAtOnce);
  // The main thread may be waiting for a push to an empty queue right now (always so in the
  // green pool): wake it, so it sees the stop flag instead of popping the very messages
  // restored next. Its wait is on a connection of its own; a BRPOP (Redis without client
  // tracking) is ended by killing the fetch connection. A pop script already running is left
  // to finish: its messages are recorded in `unacked` and tracked, and the rounds below see them.
  try {
    restorer.KillClient(transport_->wake_client_id());
    if (transport_->may_block_in_brpop()) restorer.KillClient(transport_->fetch_client_id());
  } catch (const std::exception& e) {
    spdlog::warn("Could not wake the consumer: {}", e.what());
  }
  // A message already popped is recorded in `unacked` and tracked a moment later by the main
  // thread: look again until a round finds nothing new.
  std::set<std::string> restored;
  for (int round = 0; round < 5; ++round) {
    std::vector<std::string> tags;
    {
      std::lock_guard lock(held_mutex_);
      for (const std::string& tag : held_tags_) {
        if (!restored.contains(tag)) tags.push_back(tag);
      }
    }
    if (tags.empty() && round > 1) break;  // two quiet rounds: a pop in flight has landed
    if (!tags.empty()) spdlog::warn("Restoring {} unacknowledged message(s)", tags.size());
    for (const std::string& tag : tags) {
      restored.insert(tag);
      try {
        restorer.Restore(tag, false);
      } catch (const std::exception& e) {
        spdlog::error("Could not restore message {}: {}", tag, e.what());
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  _exit(1);
}

void Worker::Track(const std::string& tag) {
  std::lock_guard lock(held_mutex_);
  auto node = held_tag_nodes_.Take();
  if (node.empty()) {
    held_tags_.insert(tag);
    return;
  }
  node.value() = tag;
  held_tags_.insert(std::move(node));
}

void Worker::Ack(const std::string& tag) {
  transport_->Ack(tag);
  std::lock_guard lock(held_mutex_);
  if (auto it = held_tags_.find(tag); it != held_tags_.end()) held_tag_nodes_.Erase(held_tags_, it);
}

void Worker::Restore(const std::string& tag, bool leftmost) {
  transport_->Restore(tag, leftmost);
  std::lock_guard lock(held_mutex_);
  if (auto it = held_tags_.find(tag); it != held_tags_.end()) held_tag_nodes_.Erase(held_tags_, it);
}

double Worker::SecondsToNextEta() const {
  if (eta_queue_.empty()) return 1.0;
  const double wait = std::chrono::duration<double>(eta_queue_.begin()->first -
                                                    std::chrono::system_clock::now())
                          .count();
  return std::clamp(wait, 0.001, 1.0);
}

bool Worker::EtaHoldFull() {
  const bool full = options_.eta_task_limit > 0 && eta_queue_.size() >= options_.eta_task_limit;
  if (full && !eta_limit_logged_) {
    spdlog::warn("{} ETA tasks held in memory (--eta-task-limit): not fetching more until one "
                 "is due",
                 eta_queue_.size());
  }
  eta_limit_logged_ = full;
  return full;
}

void Worker::RunDueEtaTasks() {
  while (!eta_queue_.empty() && !warm_stop_.load() &&
         eta_queue_.begin()->first <= std::chrono::system_clock::now()) {
    std::unique_ptr<Held> held = std::move(eta_queue_.begin()->second);
    eta_queue_.erase(eta_queue_.begin());
    {
      std::lock_guard lock(control_mutex_);
      scheduled_requests_.erase(held->msg.id);
      reserved_requests_.erase(held->msg.id);
    }
    if (DiscardIfRevoked(held->msg, held->tag) || DiscardIfExpired(held->msg, held->tag)) {
      continue;
    }
    // An ETA task, now due, still waits for its rate limit (a rate-limited one had its turn).
    if (!held->rate_limited && HoldForRateLimit(*held->task, held->msg, held->tag)) continue;
    pool_->WaitForSlot();
    StartTask(*held->task, std::move(held->msg), std::move(held->tag));
  }
}

}  // namespace cw::worker
