#include "pools/frame.h"

#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "green/waits.h"

namespace cw::pools {
namespace {

bool KnownType(char c) {
  switch (static_cast<FrameType>(c)) {
    case FrameType::kHello:
    case FrameType::kJob:
    case FrameType::kResult:
    case FrameType::kSend:
    case FrameType::kAnswer:
      return true;
  }
  return false;
}

}  // namespace

std::array<char, kFrameHeaderSize> FrameHeader(FrameType type, size_t body_size) {
  const auto n = static_cast<uint32_t>(body_size);
  return {static_cast<char>(type), static_cast<char>((n >> 24) & 0xff),
          static_cast<char>((n >> 16) & 0xff), static_cast<char>((n >> 8) & 0xff),
          static_cast<char>(n & 0xff)};
}

std::string EncodeFrame(FrameType type, std::string_view body) {
  const auto header = FrameHeader(type, body.size());
  std::string out(header.data(), header.size());
  out.append(body);
  return out;
}

bool FrameReader::Next(Frame* out) {
  if (!error_.empty() || pending() < kFrameHeaderSize) return false;
  const auto* head = reinterpret_cast<const unsigned char*>(buffer_.data() + consumed_);
  if (!KnownType(static_cast<char>(head[0]))) {
    error_ = "unknown frame type " + std::to_string(head[0]);
    return false;
  }
  const size_t size = (size_t{head[1]} << 24) | (size_t{head[2]} << 16) |
                      (size_t{head[3]} << 8) | size_t{head[4]};
  if (size > max_body_) {
    error_ = "frame of " + std::to_string(size) + " bytes exceeds the limit of " +
             std::to_string(max_body_);
    return false;
  }
  if (pending() < kFrameHeaderSize + size) return false;
  out->type = static_cast<FrameType>(head[0]);
  out->body.assign(buffer_, consumed_ + kFrameHeaderSize, size);
  consumed_ += kFrameHeaderSize + size;
  // Drop consumed bytes once they dominate, so a long-lived reader does not grow.
  if (consumed_ == buffer_.size()) {
    buffer_.clear();
    consumed_ = 0;
  } else if (consumed_ > 65536 && consumed_ * 2 > buffer_.size()) {
    buffer_.erase(0, consumed_);
    consumed_ = 0;
  }
  return true;
}

ReadStatus FramePipe::Read(Frame* out, std::string* error) {
  char chunk[65536];
  for (;;) {
    if (reader_.Next(out)) return ReadStatus::kFrame;
    if (!reader_.error().empty()) {
      *error = reader_.error();
      return ReadStatus::kCorrupt;
    }
    const ssize_t n = ::read(read_fd_, chunk, sizeof chunk);
    if (n > 0) {
      reader_.Feed(chunk, static_cast<size_t>(n));
      continue;
    }
    if (n == 0) {
      if (reader_.pending() == 0) return ReadStatus::kEof;
      *error = "end of stream after " + std::to_string(reader_.pending()) +
               " bytes of an unfinished frame";
      return ReadStatus::kTruncated;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      read_watch_.WaitReadable();
      continue;
    }
    *error = std::string("read: ") + std::strerror(errno);
    return ReadStatus::kError;
  }
}

bool FramePipe::Write(FrameType type, std::string_view body, std::string* error) {
  if (body.size() > kMaxFrameBody) {
    *error = "frame of " + std::to_string(body.size()) + " bytes exceeds the limit of " +
             std::to_string(kMaxFrameBody);
    return false;
  }
  // Header and body in one writev: the body (a job's args, a task's result) is not copied.
  const auto header = FrameHeader(type, body.size());
  const size_t total = header.size() + body.size();
  size_t done = 0;
  while (done < total) {
    iovec parts[2];
    int count = 0;
    if (done < header.size()) {
      parts[count++] = {const_cast<char*>(header.data()) + done, header.size() - done};
    }
    const size_t body_done = done > header.size() ? done - header.size() : 0;
    parts[count++] = {const_cast<char*>(body.data()) + body_done, body.size() - body_done};
    const ssize_t n = ::writev(write_fd_, parts, count);
    if (n >= 0) {
      done += static_cast<size_t>(n);
      continue;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      green::WaitFd(write_fd_, green::kWritable);
      continue;
    }
    *error = std::string("write: ") + std::strerror(errno);
    return false;
  }
  return true;
}

}  // namespace cw::pools
