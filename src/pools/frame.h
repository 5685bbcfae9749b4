// The prefork pool's pipe protocol between the parent and a child: a stream of frames,
//
//   [1 byte: type][4 bytes: body length, big-endian][body: JSON text]
//
// parent -> child   'J' job (one task call), 'A' the answer to a send request
// child  -> parent  'H' hello (ready, after loading the task library), 'R' result,
//                   'S' send request (TaskContext::Send: the parent owns all Redis IO)
//
// FrameReader decodes a byte stream that arrives in arbitrary pieces; FramePipe reads and
// writes frames on a pair of pipe fds, parking the fiber (green runtime) or blocking the
// thread when the fd is not ready.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "green/waits.h"

namespace cw::pools {

enum class FrameType : char {
  kHello = 'H',
  kJob = 'J',
  kResult = 'R',
  kSend = 'S',
  kAnswer = 'A',
};

struct Frame {
  FrameType type = FrameType::kHello;
  std::string body;
};

/// Bodies larger than this are refused: a corrupt length must not make the reader allocate
/// gigabytes. Redis itself refuses values over 512 MiB.
constexpr size_t kMaxFrameBody = 512u * 1024 * 1024;
constexpr size_t kFrameHeaderSize = 5;

/// The 5 bytes before a frame's body.
std::array<char, kFrameHeaderSize> FrameHeader(FrameType type, size_t body_size);
/// The bytes of one frame (FramePipe::Write sends the header and body without joining them).
std::string EncodeFrame(FrameType type, std::string_view body);

/// Incremental decoder: Feed bytes as they arrive, take complete frames with Next.
class FrameReader {
 public:
  explicit FrameReader(size_t max_body = kMaxFrameBody) : max_body_(max_body) {}

  void Feed(const char* data, size_t size) { buffer_.append(data, size); }
  /// The next complete frame, if one is buffered. Returns false when more bytes are needed or
  /// the stream is corrupt (see error()).
  bool Next(Frame* out);
  /// Non-empty once the stream is unusable: an unknown frame type or a body over the limit.
  const std::string& error() const { return error_; }
  /// Bytes received that are not yet a whole frame (non-zero at EOF: the writer died mid-frame).
  size_t pending() const { return buffer_.size() - consumed_; }

 private:
  size_t max_body_;
  std::string buffer_;
  size_t consumed_ = 0;
  std::string error_;
};

enum class ReadStatus {
  kFrame,      ///< a frame was read
  kEof,        ///< the writer closed its end between frames
  kTruncated,  ///< the writer closed its end in the middle of a frame
  kCorrupt,    ///< FrameReader::error(): unknown type or oversized body
  kError,      ///< read(2) failed (errno in the message)
};

/// Frames over two fds. The fds are not owned, and must outlive the FramePipe. Non-blocking fds park the calling fiber (or
/// poll, outside a fiber) until they are ready; blocking fds simply block.
class FramePipe {
 public:
  FramePipe(int read_fd, int write_fd, size_t max_body = kMaxFrameBody)
      : read_fd_(read_fd), write_fd_(write_fd), reader_(max_body), read_watch_(read_fd) {}

  ReadStatus Read(Frame* out, std::string* error);
  /// Writes the whole frame; false (with the reason) when the reader is gone or write fails.
  bool Write(FrameType type, std::string_view body, std::string* error);

 private:
  int read_fd_;
  int write_fd_;
  FrameReader reader_;
  green::FdWatch read_watch_;  ///< one fd registration for all the reads (destroyed first)
};

}  // namespace cw::pools
