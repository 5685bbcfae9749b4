#include "pools/prefork_pool.h"

#include <signal.h>

#include <algorithm>
#include <chrono>

#include <spdlog/spdlog.h>

#include <cworker/canvas.h>

#include "green/waits.h"
#include "pools/job_codec.h"
#include "pools/one_shot.h"
#include "pools/prefork_child.h"

namespace cw::pools {
namespace {

constexpr double kHelloTimeout = 60;  // seconds a new child may take to load the task library
constexpr double kReapGrace = 10;     // seconds a retired child may take to exit before SIGKILL

std::string ChildName(int index) { return "ForkPoolWorker-" + std::to_string(index); }

// What the parent answers to a child's send request (TaskContext::Send).
std::string AnswerSend(Sender* sender, const RequestInfo& request, const std::string& body) {
  try {
    if (sender == nullptr) throw std::logic_error("this task cannot send tasks");
    const std::string id = sender->Apply(Signature::FromJson(Json::Parse(body)), &request);
    return Json::MakeObject({{"id", id}}).Dump();
  } catch (const std::exception& e) {
    return Json::MakeObject({{"error", e.what()}}).Dump();
  }
}

}  // namespace

PreforkPool::PreforkPool(const PoolOptions& options)
    : GreenPool([&] {
        PoolOptions parent = options;
        parent.blocking_threshold = 0;  // tasks never run on the parent's loop
        return parent;
      }()),
      options_(options) {
  for (int i = 0; i < std::max(1, options.concurrency); ++i) {
    slots_.push_back(std::make_unique<Slot>());
    slots_.back()->index = i + 1;
  }
}

PreforkPool::~PreforkPool() = default;

void PreforkPool::Run(const std::function<void()>& consumer) {
  GreenPool::Run([&] {
    for (auto& slot : slots_) StartChild(*slot);
    // As Celery: the worker is ready once its pool is (each child ready, or failed to start and
    // backing off, so a task library that cannot load does not hang the start-up forever).
    WaitUntil([this] {
      return std::all_of(slots_.begin(), slots_.end(),
                         [](const auto& s) { return s->ready || s->failures > 0; });
    });
    consumer();
    StopChildren();
  });
}

void PreforkPool::PublishPids() {
  std::lock_guard lock(pids_mutex_);
  pids_.clear();
  for (const auto& slot : slots_) {
    if (slot->process) pids_.push_back(slot->process->pid());
  }
}

void PreforkPool::Terminate() {
  terminated_.store(true);
  std::lock_guard lock(pids_mutex_);
  for (pid_t pid : pids_) ::kill(pid, SIGKILL);
}

void PreforkPool::Notify() {
  for (green::Fiber* f : waiters_) green::Wake(f);
}

void PreforkPool::WaitUntil(const std::function<bool()>& done) {
  green::Fiber* self = green::CurrentFiber();
  while (!done()) {
    waiters_.push_back(self);
    green::WaitFor(done);
    std::erase(waiters_, self);
  }
}

void PreforkPool::StartChild(Slot& slot) {
  if (stopping_ || terminated_.load() || slot.closed) return;
  std::vector<std::string> argv = options_.child_command;
  argv.push_back(kChildFlag);
  argv.push_back(std::to_string(slot.index));
  try {
    slot.process = std::make_unique<ChildProcess>(argv);
  } catch (const std::exception& e) {
    spdlog::error("Could not start {}: {}", ChildName(slot.index), e.what());
    RestartLater(slot);
    return;
  }
  slot.pipe = std::make_unique<FramePipe>(slot.process->from_child(), slot.process->to_child());
  slot.ready = false;
  slot.tasks = 0;
  PublishPids();
  ++starting_;
  scheduler().Spawn([this, &slot] { AwaitHello(slot); }, ChildName(slot.index) + " start");
}

void PreforkPool::AwaitHello(Slot& slot) {
  ChildProcess* process = slot.process.get();
  bool timed_out = false;
  Frame frame;
  std::string error;
  ReadStatus status;
  {
    OneShot timeout(scheduler().loop(), kHelloTimeout, [&] {
      timed_out = true;
      process->Kill();
    });
    status = slot.pipe->Read(&frame, &error);
  }
  --starting_;
  if (status == ReadStatus::kFrame && frame.type == FrameType::kHello) {
    slot.failures = 0;
    if (slot.closed) {  // pool_shrink while it started
      Retire(slot, false);
      return;
    }
    slot.ready = true;
    spdlog::debug("{} pid:{} ready", ChildName(slot.index), process->pid());
    Notify();
    return;
  }
  // The child died (or hung) before it could serve: a task library that crashes when loaded,
  // or a machine out of memory. Try again, backing off.
  process->Kill();
  const int wait_status = process->Reap(kReapGrace);
  if (!stopping_ && !terminated_.load()) {
    spdlog::error("Process '{}' pid:{} {} before it was ready", ChildName(slot.index),
                  process->pid(),
                  timed_out ? "did not start within " + std::to_string(int(kHelloTimeout)) + "s"
                            : "exited with '" + HumanStatus(wait_status) + "'");
  }
  slot.pipe.reset();
  slot.process.reset();
  PublishPids();
  Notify();
  if (!stopping_) RestartLater(slot);
}

void PreforkPool::RestartLater(Slot& slot) {
  ++slot.failures;
  ++starting_;
  Notify();
  scheduler().Spawn(
      [this, &slot] {
        BackOff(slot);
        --starting_;
        StartChild(slot);
        Notify();
      },
      ChildName(slot.index) + " restart");
}

void PreforkPool::BackOff(const Slot& slot) {
  const double seconds = std::min(30, 1 << std::min(slot.failures - 1, 5));
  green::Fiber* self = green::CurrentFiber();
  waiters_.push_back(self);
  green::WaitFor([this] { return stopping_; }, std::chrono::duration<double>(seconds));
  std::erase(waiters_, self);
}

PreforkPool::Slot& PreforkPool::Acquire() {
  Slot* found = nullptr;
  WaitUntil([&] {
    for (auto& slot : slots_) {
      if (slot->ready && !slot->closed) {
        found = slot.get();
        return true;
      }
    }
    return false;
  });
  found->ready = false;
  return *found;
}

void PreforkPool::Retire(Slot& slot, bool kill) {
  // The pipe goes before the process: its fds are the process's.
  struct Retired {
    std::unique_ptr<ChildProcess> process;
    std::unique_ptr<FramePipe> pipe;  // declared last: destroyed first
  };
  auto retired = std::make_shared<Retired>(std::move(slot.process), std::move(slot.pipe));
  ChildProcess* process = retired->process.get();
  slot.ready = false;
  if (kill) process->Kill();
  process->CloseInput();  // a healthy child finishes and exits on EOF
  PublishPids();  // before its pid can be reused: cold shutdown kills what is listed
  ++retiring_;
  scheduler().Spawn(
      [this, retired] {
        retired->process->Reap(kReapGrace);
        --retiring_;
        Notify();
      },
      ChildName(slot.index) + " exit");
  StartChild(slot);
}

PreforkPool::Answer PreforkPool::Converse(Slot& slot, const RequestInfo& request,
                                          Sender* sender, std::string* result,
                                          std::string* why) {
  for (;;) {
    Frame frame;
    const ReadStatus status = slot.pipe->Read(&frame, why);
    if (status == ReadStatus::kEof) *why = "the process closed its pipe";
    if (status != ReadStatus::kFrame) return Answer::kLost;
    switch (frame.type) {
      case FrameType::kResult:
        *result = std::move(frame.body);
        return Answer::kResult;
      case FrameType::kSend:
        if (!slot.pipe->Write(FrameType::kAnswer, AnswerSend(sender, request, frame.body), why)) {
          return Answer::kLost;
        }
        break;
      default:
        *why = std::string("unexpected frame '") + static_cast<char>(frame.type) + "'";
        return Answer::kLost;
    }
  }
}

exec::Outcome PreforkPool::Call(const TaskDescriptor& /*task*/, const RequestInfo& request,
                                const Json& args, const Json& kwargs, Sender* sender,
                                const Limits& limits,
                             const StartHook& on_start) {
  const auto start = std::chrono::steady_clock::now();
  const std::string job = EncodeJob({request, args, kwargs, limits.soft});
  Slot* slot = nullptr;
  for (int attempt = 1;; ++attempt) {
    slot = &Acquire();
    std::string error;
    if (slot->pipe->Write(FrameType::kJob, job, &error)) break;
    // The child died while idle and never saw this job: replace it and use another.
    spdlog::error("Process '{}' pid:{} could not take a job ({}); replacing it",
                  ChildName(slot->index), slot->process->pid(), error);
    Retire(*slot, true);
    if (attempt == 3) {
      return exec::FailureOutcome("billiard.exceptions", "WorkerLostError",
                                  Json::MakeArray({"could not hand the job to a child: " + error}),
                                  false);
    }
  }
  const int64_t job_number = jobs_++;
  ChildProcess* process = slot->process.get();
  slot->task_id = request.id;
  slot->terminate_signal.reset();
  struct Unassign {  // whatever happens below, the slot no longer runs this task
    Slot* slot;
    ~Unassign() { slot->task_id.clear(); }
  } unassign{slot};
  if (on_start) on_start(process->pid());

  bool hard_hit = false;
  std::unique_ptr<OneShot> hard_timer;
  if (limits.hard) {
    hard_timer = std::make_unique<OneShot>(scheduler().loop(), *limits.hard, [&] {
      spdlog::error("Hard time limit ({}s) exceeded for {}[{}]", fmt::format("{:g}", *limits.hard),
                    request.task, request.id);
      hard_hit = true;
      process->Kill();
    });
  }
  std::string body;
  std::string why;
  const Answer answer = Converse(*slot, request, sender, &body, &why);
  hard_timer.reset();

  std::optional<JobResult> result;
  if (answer == Answer::kResult) {
    try {
      result = DecodeResult(body);
    } catch (const std::exception& e) {
      why = std::string("undecodable result: ") + e.what();
    }
  }
  const double runtime =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (result) {
    ++slot->tasks;
    bool recycle = hard_hit || slot->terminate_signal.has_value() || slot->closed;
    if (options_.max_tasks_per_child > 0 && slot->tasks >= options_.max_tasks_per_child) {
      spdlog::debug("{} pid:{} exiting after {} tasks", ChildName(slot->index), process->pid(),
                    slot->tasks);
      recycle = true;
    }
    if (options_.max_memory_per_child_kib > 0 &&
        result->rss_kib > options_.max_memory_per_child_kib) {
      spdlog::warn("child process exiting after exceeding memory limit ({}KiB / {}KiB)",
                      result->rss_kib, options_.max_memory_per_child_kib);
      recycle = true;
    }
    if (recycle) {
      Retire(*slot, false);
    } else {
      slot->ready = true;
      Notify();
    }
    return std::move(result->outcome);
  }

  // The child is gone (or speaks nonsense): reap it, replace it, fail the task as billiard does.
  process->Kill();
  const int wait_status = process->Reap(kReapGrace);
  if (terminated_.load()) {
    // Cold shutdown: the signal thread is restoring this task's message and is about to end
    // the process. Nothing may be stored or acked for it meanwhile.
    for (;;) green::SleepFor(std::chrono::hours(1));
  }
  spdlog::error("Process '{}' pid:{} exited with '{}'", ChildName(slot->index), process->pid(),
                HumanStatus(wait_status));
  spdlog::debug("{} lost: {}", ChildName(slot->index), why);
  const std::optional<int> terminated = slot->terminate_signal;
  Retire(*slot, false);
  exec::Outcome out;
  if (terminated) {
    out = exec::FailureOutcome("billiard.exceptions", "Terminated",
                               Json::MakeArray({static_cast<int64_t>(*terminated)}), false);
    out.terminated = terminated;
  } else if (hard_hit) {
    out = TimeLimitExceededOutcome(*limits.hard);
  } else {
    out = exec::FailureOutcome(
        "billiard.exceptions", "WorkerLostError",
        Json::MakeArray({"Worker exited prematurely: " + HumanStatus(wait_status) + " Job: " +
                         std::to_string(job_number) + "."}),
        false);
    out.worker_lost = true;
  }
  out.runtime_s = runtime;
  return out;
}

void PreforkPool::StopChildren() {
  stopping_ = true;
  Notify();
  for (auto& slot : slots_) {
    if (slot->process) slot->process->CloseInput();
  }
  // Children exit on EOF; those still starting say hello first, then see it.
  WaitUntil([this] { return starting_ == 0 && retiring_ == 0; });
  for (auto& slot : slots_) {
    if (!slot->process) continue;
    slot->process->Reap(kReapGrace);
    slot->pipe.reset();
    slot->process.reset();
  }
  PublishPids();
}

void PreforkPool::TerminateTask(const std::string& id, int signum) {
  scheduler().Post([this, id, signum] {
    for (auto& slot : slots_) {
      if (slot->task_id != id || !slot->process) continue;
      slot->terminate_signal = signum;
      ::kill(slot->process->pid(), signum);
    }
  });
}

std::optional<std::string> PreforkPool::Resize(int delta) {
  if (auto why = GreenPool::Resize(delta)) return why;  // -c of the parent's task fibers
  scheduler().Post([this, delta] { delta > 0 ? Grow(delta) : Shrink(-delta); });
  return std::nullopt;
}

void PreforkPool::Grow(int n) {
  // A slot being shrunk is kept first, then a closed one is reused, then one is added.
  for (auto& slot : slots_) {
    if (n > 0 && slot->closed && slot->process) {
      slot->closed = false;
      --n;
    }
  }
  for (auto& slot : slots_) {
    if (n > 0 && slot->closed && !slot->process) {
      slot->closed = false;
      slot->failures = 0;
      StartChild(*slot);
      --n;
    }
  }
  for (; n > 0; --n) {
    slots_.push_back(std::make_unique<Slot>());
    slots_.back()->index = static_cast<int>(slots_.size());
    StartChild(*slots_.back());
  }
  Notify();
}

void PreforkPool::Shrink(int n) {
  // Idle children go first, then those starting, then busy ones (after their task).
  for (int pass = 0; pass < 3 && n > 0; ++pass) {
    for (auto& slot : slots_) {
      if (n == 0) break;
      if (slot->closed) continue;
      const bool idle = slot->ready;
      const bool busy = !slot->task_id.empty();
      if ((pass == 0 && !idle) || (pass == 1 && (idle || busy)) || (pass == 2 && !busy)) continue;
      slot->closed = true;
      --n;
      if (idle) {
        slot->ready = false;
        Retire(*slot, false);
      }
    }
  }
  PublishPids();
}

}  // namespace cw::pools
