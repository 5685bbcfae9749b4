#pragma once

#include <string>

namespace cw::util {

/// A random (version 4) UUID in canonical text form, as Python's str(uuid.uuid4()).
std::string Uuid4();

}  // namespace cw::util
