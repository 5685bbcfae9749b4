// Node names: Celery's `-n name@%h` with its %h / %n / %d expansions.
#pragma once

#include <string>
#include <string_view>

namespace cw::util {

/// This machine's host name (gethostname).
std::string Hostname();

/// Expands Celery's node-name template: %h = full host name, %n = host name before the first
/// dot, %d = the domain after it, %% = %. A result without "@" becomes "<name>@<hostname>",
/// as Celery does: "w1" -> "w1@host".
std::string ExpandNodeName(std::string_view pattern, std::string_view hostname);

}  // namespace cw::util
