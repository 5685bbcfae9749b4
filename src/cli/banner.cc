#include "cli/banner.h"

#include <gnu/libc-version.h>
#include <sys/utsname.h>

#include <ctime>

#include <fmt/format.h>

namespace cw::cli {
namespace {

std::string Platform() {
  utsname u{};
  if (uname(&u) != 0) return "unknown";
  return fmt::format("{}-{}-{}-with-glibc{}", u.sysname, u.release, u.machine,
                     gnu_get_libc_version());
}

std::string LocalNow() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

}  // namespace

std::string Banner(const worker::WorkerOptions& options, const LoadedModule& module,
                   bool list_tasks) {
  const std::string results =
      options.backend ? options.backend->ToString() : std::string("disabled://");
  // The art column is Celery's; the text after it carries our values.
  const std::vector<std::string> art = {
      "--- ***** ----- ", "-- ******* ---- ", "- *** --- * --- ", "- ** ---------- ",
      "- ** ---------- ", "- ** ---------- ", "- ** ---------- ", "- ** ---------- ",
      "- *** --- * --- ", "-- ******* ---- ", "--- ***** ----- ", " -------------- "};
  const std::vector<std::string> text = {
      "",
      Platform() + " " + LocalNow(),
      "",
      "[config]",
      fmt::format(".> app:         {}:{}", module.name, module.handle),
      ".> transport:   " + options.broker.ToString(),
      ".> results:     " + results,
      fmt::format(".> concurrency: {} ({})", options.concurrency, options.pool),
      options.task_events ? ".> task events: ON"
                          : ".> task events: OFF (enable -E to monitor tasks in this worker)",
      "",
      "[queues]"};
  std::string out = fmt::format("\n -------------- {} v{} (cworker)\n", options.nodename,
                                CWORKER_VERSION);
  for (size_t i = 0; i < text.size(); ++i) out += art[i] + text[i] + "\n";
  for (const std::string& q : options.queues) {
    out += fmt::format("                .> {:<16} exchange={}(direct) key={}\n", q, q, q);
  }
  out += "                \n";
  if (list_tasks) {
    out += "\n[tasks]\n";
    for (const std::string& name : module.task_names) out += "  . " + name + "\n";
  }
  return out + "\n";
}

}  // namespace cw::cli
