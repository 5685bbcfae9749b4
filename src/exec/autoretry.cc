#include "exec/autoretry.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <string_view>

namespace cw::exec {
namespace {

// Python's builtin exception tree, child -> parent, for the classes a task can raise. Classes
// not listed derive directly from Exception.
struct Edge {
  std::string_view child;
  std::string_view parent;
};
constexpr Edge kBuiltinParents[] = {
    {"Exception", "BaseException"},
    {"SystemExit", "BaseException"},
    {"KeyboardInterrupt", "BaseException"},
    {"GeneratorExit", "BaseException"},
    {"FloatingPointError", "ArithmeticError"},
    {"OverflowError", "ArithmeticError"},
    {"ZeroDivisionError", "ArithmeticError"},
    {"IndexError", "LookupError"},
    {"KeyError", "LookupError"},
    {"NotImplementedError", "RuntimeError"},
    {"RecursionError", "RuntimeError"},
    {"UnicodeError", "ValueError"},
    {"UnicodeDecodeError", "UnicodeError"},
    {"UnicodeEncodeError", "UnicodeError"},
    {"UnicodeTranslateError", "UnicodeError"},
    {"ModuleNotFoundError", "ImportError"},
    {"UnboundLocalError", "NameError"},
    {"IndentationError", "SyntaxError"},
    {"TabError", "IndentationError"},
    {"ConnectionError", "OSError"},
    {"BrokenPipeError", "ConnectionError"},
    {"ConnectionAbortedError", "ConnectionError"},
    {"ConnectionRefusedError", "ConnectionError"},
    {"ConnectionResetError", "ConnectionError"},
    {"TimeoutError", "OSError"},
    {"BlockingIOError", "OSError"},
    {"ChildProcessError", "OSError"},
    {"FileExistsError", "OSError"},
    {"FileNotFoundError", "OSError"},
    {"InterruptedError", "OSError"},
    {"IsADirectoryError", "OSError"},
    {"NotADirectoryError", "OSError"},
    {"PermissionError", "OSError"},
    {"ProcessLookupError", "OSError"},
};

std::string_view BuiltinParent(std::string_view type) {
  for (const Edge& e : kBuiltinParents) {
    if (e.child == type) return e.parent;
  }
  if (type == "BaseException") return {};
  return "Exception";
}

// "builtins.IOError" -> "OSError": the builtin class a name denotes, or "" if not a builtin.
std::string_view BuiltinName(std::string_view name) {
  constexpr std::string_view kPrefix = "builtins.";
  if (name.substr(0, kPrefix.size()) == kPrefix) name.remove_prefix(kPrefix.size());
  if (name.find('.') != std::string_view::npos) return {};
  if (name == "IOError" || name == "EnvironmentError") return "OSError";
  return name;
}

bool Matches(std::string_view wanted, const std::string& exc_module, const std::string& exc_type) {
  if (wanted == exc_type || wanted == exc_module + "." + exc_type) return true;
  const std::string_view base = BuiltinName(wanted);
  if (base.empty()) return false;
  // A class outside builtins is taken to derive from Exception, as Celery's synthesised
  // exception classes and any user exception do.
  std::string_view ancestor = exc_module == "builtins" ? BuiltinParent(exc_type) : "Exception";
  while (!ancestor.empty()) {
    if (ancestor == base) return true;
    ancestor = BuiltinParent(ancestor);
  }
  return false;
}

std::mt19937_64& Rng() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return rng;
}

}  // namespace

bool AutoretryMatches(const std::vector<std::string>& autoretry_for,
                      const std::string& exc_module, const std::string& exc_type) {
  return std::any_of(autoretry_for.begin(), autoretry_for.end(), [&](const std::string& name) {
    return Matches(name, exc_module, exc_type);
  });
}

double BackoffInterval(double factor, int64_t retries, double maximum, bool full_jitter) {
  // 2**retries overflows to infinity long before retries does; min() then picks maximum.
  const int exponent = static_cast<int>(std::clamp<int64_t>(retries, 0, 4096));
  double countdown = std::min(maximum, std::ldexp(factor, exponent));
  if (!(countdown > 0)) return 0;  // also catches NaN
  if (full_jitter) {
    constexpr double kExactInts = 9007199254740992.0;  // 2**53
    const bool whole = factor == std::floor(factor) && maximum == std::floor(maximum) &&
                       countdown < kExactInts;
    if (whole) {
      std::uniform_int_distribution<int64_t> pick(0, static_cast<int64_t>(countdown));
      countdown = static_cast<double>(pick(Rng()));
    } else {
      std::uniform_real_distribution<double> pick(0.0, countdown);
      countdown = pick(Rng());
    }
  }
  return countdown;
}

}  // namespace cw::exec
