#include "pools/child_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>

#include <boost/process/args.hpp>
#include <boost/process/child.hpp>
#include <boost/process/exe.hpp>
#include <boost/process/posix.hpp>

#include "green/waits.h"

namespace cw::pools {
namespace {

std::string SignalName(int sig) {
  const char* abbrev = sigabbrev_np(sig);
  return abbrev != nullptr ? std::string("SIG") + abbrev : std::string();
}

void SetNonBlocking(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

}  // namespace

ChildProcess::ChildProcess(const std::vector<std::string>& argv) {
  if (argv.empty()) throw std::invalid_argument("no child command");
  // O_CLOEXEC: no other child inherits these ends (a sibling holding a write end would hide
  // this child's death from the parent). The two ends bound to the child's 0 and 1 by dup2
  // lose the flag there, as they must.
  int down[2];  // parent -> child
  int up[2];    // child -> parent
  if (pipe2(down, O_CLOEXEC) != 0) throw std::runtime_error(std::string("pipe: ") + strerror(errno));
  if (pipe2(up, O_CLOEXEC) != 0) {
    close(down[0]);
    close(down[1]);
    throw std::runtime_error(std::string("pipe: ") + strerror(errno));
  }
  std::error_code ec;
  const std::vector<std::string> args(argv.begin() + 1, argv.end());
  boost::process::child child(boost::process::exe = argv.front(), boost::process::args = args,
                              boost::process::posix::fd.bind(0, down[0]),
                              boost::process::posix::fd.bind(1, up[1]), ec);
  close(down[0]);
  close(up[1]);
  if (ec || !child.valid()) {
    close(down[1]);
    close(up[0]);
    throw std::runtime_error("could not start " + argv.front() + ": " + ec.message());
  }
  pid_ = child.id();
  child.detach();  // reaped here with waitpid, not by Boost's child object
  to_child_ = down[1];
  from_child_ = up[0];
  SetNonBlocking(to_child_);
  SetNonBlocking(from_child_);
}

ChildProcess::~ChildProcess() {
  CloseInput();
  if (from_child_ >= 0) close(from_child_);
  if (!reaped_) {
    Kill();
    WaitBlocking();
  }
}

void ChildProcess::WaitBlocking() {
  int status = 0;
  while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  reaped_ = true;
  status_ = status;
}

void ChildProcess::CloseInput() {
  if (to_child_ >= 0) close(to_child_);
  to_child_ = -1;
}

void ChildProcess::Kill() {
  if (!reaped_ && pid_ > 0) ::kill(pid_, SIGKILL);
}

bool ChildProcess::TryReap() {
  if (reaped_) return true;
  int status = 0;
  const pid_t r = waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    reaped_ = true;
    status_ = status;
  } else if (r < 0 && errno == ECHILD) {
    reaped_ = true;  // someone else reaped it; the status is lost
  }
  return reaped_;
}

int ChildProcess::Reap(double grace) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(grace);
  auto pause = std::chrono::milliseconds(1);
  while (!TryReap()) {
    if (std::chrono::steady_clock::now() >= deadline) {
      Kill();
      WaitBlocking();
      break;
    }
    green::SleepFor(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(50));
  }
  return status_;
}

std::string HumanStatus(int s) {
  if (WIFSIGNALED(s)) {
    const int sig = WTERMSIG(s);
    const std::string name = SignalName(sig);
    return "signal " + std::to_string(sig) + (name.empty() ? "" : " (" + name + ")");
  }
  if (WIFEXITED(s)) return "exitcode " + std::to_string(WEXITSTATUS(s));
  return "status " + std::to_string(s);
}

}  // namespace cw::pools
