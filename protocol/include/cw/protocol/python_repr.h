// Python's repr() of JSON values, for log lines and events that Celery fills with repr text
// ("succeeded in 0.002s: {'a': 1}", "raised unexpected: ValueError('boom')").
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <cworker/json.h>

namespace cw::protocol {

/// repr(value) as Python prints the decoded JSON: None, True, 'str', [1, 2], {'k': 1.5}.
std::string PyRepr(const Json& value);
/// PyRepr truncated to `max_len` characters with "..." as Celery's saferepr does.
std::string PyReprTruncated(const Json& value, size_t max_len);
/// repr(tuple(args)) of a JSON array: "(2, 2)", "(1,)", "()" (Celery's argsrepr, log lines).
std::string PyTupleRepr(const Json& args);
/// PyTupleRepr truncated to `max_len` characters with "...", as saferepr does.
std::string PyTupleReprTruncated(const Json& args, size_t max_len);
/// repr(float): the shortest text that reads back to the same double ("0.1", "1e-05", "2.0").
std::string PyFloatRepr(double value);
/// repr of a str: single quotes unless the text holds ' and no ".
std::string PyStrRepr(std::string_view utf8);
/// repr of an exception built from Celery's triple: ValueError('boom'), KeyError('k', 2).
std::string PyExceptionRepr(std::string_view exc_type, const Json& exc_args);

}  // namespace cw::protocol
