#include "pools/prefork_child.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include <spdlog/spdlog.h>

#include <cworker/canvas.h>

#include "pools/frame.h"
#include "pools/green_pool.h"
#include "pools/job_codec.h"

namespace cw::pools {
namespace {

// TaskContext::Send in a child: the parent sends the signature (it owns the Redis
// connections and the worker's routes) and answers with the id to wait on.
class PipeSender : public Sender {
 public:
  explicit PipeSender(FramePipe* pipe) : pipe_(pipe) {}
  std::string Apply(const Signature& sig, const RequestInfo* /*parent: the running task*/)
      override {
    std::string error;
    if (!pipe_->Write(FrameType::kSend, sig.ToJson().Dump(), &error)) {
      throw std::runtime_error("cannot reach the worker process: " + error);
    }
    Frame answer;
    if (pipe_->Read(&answer, &error) != ReadStatus::kFrame || answer.type != FrameType::kAnswer) {
      throw std::runtime_error("no answer from the worker process: " + error);
    }
    const Json reply = Json::Parse(answer.body);
    if (const Json* id = reply.Find("id")) return id->as_string();
    throw std::runtime_error(reply.At("error").as_string());
  }

 private:
  FramePipe* pipe_;
};

int64_t ResidentKib() {
  std::ifstream statm("/proc/self/statm");
  int64_t size = 0;
  int64_t resident = 0;
  if (!(statm >> size >> resident)) return 0;
  return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

JobResult RunJob(GreenPool& pool, PipeSender& sender, const Job& job) {
  JobResult out;
  const TaskDescriptor* task = Registry::Global().Find(job.request.task);
  if (task == nullptr) {
    // The parent checked its registry, and the child loaded the same library: not expected.
    out.outcome = exec::FailureOutcome("celery.exceptions", "NotRegistered",
                                       Json::MakeArray({job.request.task}), false);
  } else {
    Limits limits;
    limits.soft = job.soft_time_limit;  // the hard limit is the parent's: it kills this process
    out.outcome = pool.Call(*task, job.request, job.args, job.kwargs, &sender, limits, {});
  }
  out.rss_kib = ResidentKib();
  return out;
}

}  // namespace

ChildFds PrepareChildProcess() {
  // 0 and 1 are the pipes; keep them, close everything else the parent leaked.
  close_range(3, ~0U, 0);
  ChildFds fds;
  fds.from_parent = fcntl(0, F_DUPFD_CLOEXEC, 3);
  fds.to_parent = fcntl(1, F_DUPFD_CLOEXEC, 3);
  const int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (devnull >= 0) {
    dup2(devnull, 0);
    close(devnull);
  }
  dup2(2, 1);
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  sigset_t all;
  sigfillset(&all);
  sigprocmask(SIG_UNBLOCK, &all, nullptr);  // the parent blocks its shutdown signals
  signal(SIGINT, SIG_IGN);
  signal(SIGTERM, SIG_DFL);
  signal(SIGQUIT, SIG_DFL);
  return fds;
}

int RunPreforkChild(ChildFds fds, int index, size_t stack_size) {
  if (getppid() == 1) return 1;  // the parent died before PR_SET_PDEATHSIG took effect
  FramePipe pipe(fds.from_parent, fds.to_parent);
  PipeSender sender(&pipe);
  GreenPool pool({.concurrency = 1,
                  .stack_size = std::max<size_t>(stack_size, 8u * 1024 * 1024),
                  .blocking_threshold = 0});
  int code = 0;
  pool.Run([&] {
    std::string error;
    const std::string hello =
        Json::MakeObject({{"pid", static_cast<int64_t>(getpid())}, {"index", index}}).Dump();
    if (!pipe.Write(FrameType::kHello, hello, &error)) {
      code = 1;
      return;
    }
    for (;;) {
      Frame frame;
      const ReadStatus status = pipe.Read(&frame, &error);
      if (status == ReadStatus::kEof) return;  // the parent is done with this child
      if (status != ReadStatus::kFrame || frame.type != FrameType::kJob) {
        spdlog::error("Bad frame from the worker process: {}", error);
        code = 1;
        return;
      }
      JobResult result;
      try {
        result = RunJob(pool, sender, DecodeJob(frame.body));
      } catch (const std::exception& e) {
        // A job the parent encoded cannot be malformed unless the binaries differ.
        spdlog::error("Bad job from the worker process: {}", e.what());
        code = 1;
        return;
      }
      if (!pipe.Write(FrameType::kResult, EncodeResult(result), &error)) {
        code = 1;
        return;
      }
    }
  });
  return code;
}

}  // namespace cw::pools
