// The prefork pool's parent/child protocol: framing over byte streams that arrive in pieces,
// writers that die mid-frame, oversized and corrupt input, and the job/result bodies.
#include "pools/frame.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <string>
#include <thread>

#include "green/scheduler.h"
#include "pools/job_codec.h"

namespace cw::pools {
namespace {

struct Pipe {
  int fds[2] = {-1, -1};
  Pipe() { EXPECT_EQ(pipe2(fds, O_CLOEXEC), 0); }
  ~Pipe() {
    CloseRead();
    CloseWrite();
  }
  int r() const { return fds[0]; }
  int w() const { return fds[1]; }
  void CloseRead() {
    if (fds[0] >= 0) close(fds[0]);
    fds[0] = -1;
  }
  void CloseWrite() {
    if (fds[1] >= 0) close(fds[1]);
    fds[1] = -1;
  }
};

void WriteAll(int fd, const std::string& bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = write(fd, bytes.data() + done, bytes.size() - done);
    ASSERT_GT(n, 0);
    done += static_cast<size_t>(n);
  }
}

TEST(FrameReader, DecodesAFrameFedOneByteAtATime) {
  const std::string bytes = EncodeFrame(FrameType::kResult, R"({"kind": "success"})");
  ASSERT_EQ(bytes.size(), kFrameHeaderSize + 19);
  FrameReader reader;
  Frame frame;
  for (size_t i = 0; i < bytes.size(); ++i) {
    EXPECT_FALSE(reader.Next(&frame)) << "complete after only " << i << " bytes";
    reader.Feed(&bytes[i], 1);
  }
  ASSERT_TRUE(reader.Next(&frame));
  EXPECT_EQ(frame.type, FrameType::kResult);
  EXPECT_EQ(frame.body, R"({"kind": "success"})");
  EXPECT_EQ(reader.pending(), 0u);
  EXPECT_FALSE(reader.Next(&frame));
}

TEST(FrameReader, SplitsSeveralFramesFromOneChunkAndKeepsTheRest) {
  const std::string a = EncodeFrame(FrameType::kSend, "first");
  const std::string b = EncodeFrame(FrameType::kAnswer, "");
  const std::string c = EncodeFrame(FrameType::kJob, "third");
  const std::string all = a + b + c;
  FrameReader reader;
  reader.Feed(all.data(), all.size() - 2);  // the last frame is cut short
  Frame frame;
  ASSERT_TRUE(reader.Next(&frame));
  EXPECT_EQ(frame.type, FrameType::kSend);
  EXPECT_EQ(frame.body, "first");
  ASSERT_TRUE(reader.Next(&frame));
  EXPECT_EQ(frame.type, FrameType::kAnswer);
  EXPECT_EQ(frame.body, "");
  EXPECT_FALSE(reader.Next(&frame));
  EXPECT_EQ(reader.pending(), c.size() - 2);
  reader.Feed(all.data() + all.size() - 2, 2);
  ASSERT_TRUE(reader.Next(&frame));
  EXPECT_EQ(frame.body, "third");
  EXPECT_TRUE(reader.error().empty());
}

TEST(FrameReader, RefusesABodyOverTheLimitWithoutBufferingIt) {
  FrameReader reader(1024);
  const std::string header = EncodeFrame(FrameType::kResult, std::string(1025, 'x'))
                                 .substr(0, kFrameHeaderSize);
  reader.Feed(header.data(), header.size());
  Frame frame;
  EXPECT_FALSE(reader.Next(&frame));
  EXPECT_NE(reader.error().find("1025 bytes exceeds the limit of 1024"), std::string::npos)
      << reader.error();
  // A body at the limit is fine.
  FrameReader ok(1024);
  const std::string exact = EncodeFrame(FrameType::kResult, std::string(1024, 'y'));
  ok.Feed(exact.data(), exact.size());
  ASSERT_TRUE(ok.Next(&frame));
  EXPECT_EQ(frame.body.size(), 1024u);
}

TEST(FrameReader, RefusesAnUnknownFrameType) {
  FrameReader reader;
  const std::string junk = "Z\0\0\0\0";
  reader.Feed(junk.data(), 5);
  Frame frame;
  EXPECT_FALSE(reader.Next(&frame));
  EXPECT_EQ(reader.error(), "unknown frame type 90");
}

TEST(FramePipe, CarriesAFrameLargerThanThePipeBufferInPieces) {
  Pipe p;
  std::string big(8 * 1024 * 1024 + 7, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 26);
  std::thread writer([&] {
    FramePipe out(-1, p.w());
    std::string error;
    EXPECT_TRUE(out.Write(FrameType::kResult, big, &error)) << error;
    EXPECT_TRUE(out.Write(FrameType::kHello, "{}", &error)) << error;
    p.CloseWrite();
  });
  FramePipe in(p.r(), -1);
  Frame frame;
  std::string error;
  ASSERT_EQ(in.Read(&frame, &error), ReadStatus::kFrame) << error;
  EXPECT_EQ(frame.body.size(), big.size());
  EXPECT_TRUE(frame.body == big);
  ASSERT_EQ(in.Read(&frame, &error), ReadStatus::kFrame) << error;
  EXPECT_EQ(frame.type, FrameType::kHello);
  EXPECT_EQ(in.Read(&frame, &error), ReadStatus::kEof);
  writer.join();
}

TEST(FramePipe, AChildDyingMidFrameIsTruncatedNotAFrame) {
  Pipe p;
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {  // the "child": half a result frame, then death
    const std::string frame = EncodeFrame(FrameType::kResult, std::string(1000, 'r'));
    (void)!write(p.w(), frame.data(), 600);
    _exit(3);
  }
  p.CloseWrite();
  FramePipe in(p.r(), -1);
  Frame frame;
  std::string error;
  EXPECT_EQ(in.Read(&frame, &error), ReadStatus::kTruncated);
  EXPECT_NE(error.find("600 bytes of an unfinished frame"), std::string::npos) << error;
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_EQ(WEXITSTATUS(status), 3);
}

TEST(FramePipe, ReadReportsACorruptStream) {
  Pipe p;
  WriteAll(p.w(), EncodeFrame(FrameType::kHello, "{}") + "?garbage");
  p.CloseWrite();
  FramePipe in(p.r(), -1, 64);
  Frame frame;
  std::string error;
  EXPECT_EQ(in.Read(&frame, &error), ReadStatus::kFrame);
  EXPECT_EQ(in.Read(&frame, &error), ReadStatus::kCorrupt);
  EXPECT_EQ(error, "unknown frame type 63");
}

TEST(FramePipe, WriteToAGoneReaderFailsInsteadOfKillingTheProcess) {
  signal(SIGPIPE, SIG_IGN);  // as the worker does
  Pipe p;
  p.CloseRead();
  FramePipe out(-1, p.w());
  std::string error;
  EXPECT_FALSE(out.Write(FrameType::kJob, "{}", &error));
  EXPECT_NE(error.find("Broken pipe"), std::string::npos) << error;
}

TEST(FramePipe, NonBlockingEndsParkOnlyTheirFiber) {
  // The parent's side: a fiber reading a frame that arrives in pieces must let other fibers
  // run meanwhile.
  Pipe p;
  fcntl(p.r(), F_SETFL, fcntl(p.r(), F_GETFL) | O_NONBLOCK);
  fcntl(p.w(), F_SETFL, fcntl(p.w(), F_GETFL) | O_NONBLOCK);
  const std::string body(300 * 1024, 'z');  // several times a pipe's 64 KiB buffer
  green::Scheduler s;
  std::string got;
  int ticks = 0;
  bool done = false;
  s.Spawn([&] {
    FramePipe in(p.r(), -1);
    Frame frame;
    std::string error;
    ASSERT_EQ(in.Read(&frame, &error), ReadStatus::kFrame) << error;
    got = frame.body;
    done = true;
  });
  s.Spawn([&] {
    FramePipe out(-1, p.w());
    std::string error;
    EXPECT_TRUE(out.Write(FrameType::kResult, body, &error)) << error;
  });
  s.Spawn([&] {
    while (!done) {
      ++ticks;
      green::Yield();
    }
  });
  s.Run();
  EXPECT_EQ(got, body);
  EXPECT_GT(ticks, 1);
}

TEST(JobCodec, AJobRoundTrips) {
  Job job;
  job.request.id = "id-1";
  job.request.task = "tasks.add";
  job.request.root_id = "root";
  job.request.group_index = 3;
  job.request.retries = 2;
  job.request.delivery_info = Json::MakeObject({{"routing_key", "celery"}});
  job.request.headers = Json::MakeObject({{"lang", "py"}});
  job.args = Json::MakeArray({1, "two", Json()});
  job.kwargs = Json::MakeObject({{"big", Json::Parse("123456789012345678901234567890")}});
  job.soft_time_limit = 1.5;
  const Job back = DecodeJob(EncodeJob(job));
  EXPECT_EQ(back.request.id, "id-1");
  EXPECT_EQ(back.request.task, "tasks.add");
  EXPECT_EQ(back.request.root_id, "root");
  EXPECT_EQ(back.request.group_index, 3);
  EXPECT_EQ(back.request.retries, 2);
  EXPECT_EQ(back.request.delivery_info.Dump(), R"({"routing_key": "celery"})");
  EXPECT_EQ(back.request.headers.Dump(), R"({"lang": "py"})");
  EXPECT_EQ(back.args.Dump(), R"([1, "two", null])");
  EXPECT_EQ(back.kwargs.Dump(), R"({"big": 123456789012345678901234567890})");
  EXPECT_EQ(back.soft_time_limit, 1.5);
  job.soft_time_limit.reset();
  job.request.group_index.reset();
  const Job plain = DecodeJob(EncodeJob(job));
  EXPECT_FALSE(plain.soft_time_limit.has_value());
  EXPECT_FALSE(plain.request.group_index.has_value());
}

TEST(JobCodec, AnOutcomeRoundTrips) {
  JobResult r;
  r.outcome.kind = exec::OutcomeKind::kRetry;
  r.outcome.exception = {"ValueError", "builtins", Json::MakeArray({"boom"})};
  r.outcome.traceback = "Traceback ...";
  r.outcome.exception_repr = "ValueError('boom')";
  r.outcome.retry_countdown = 0.25;
  r.outcome.retry_eta = std::chrono::system_clock::time_point(std::chrono::microseconds(1234567));
  r.outcome.has_exception = true;
  r.outcome.runtime_s = 0.5;
  r.rss_kib = 4096;
  const JobResult back = DecodeResult(EncodeResult(r));
  EXPECT_EQ(back.outcome.kind, exec::OutcomeKind::kRetry);
  EXPECT_EQ(back.outcome.exception.ToJson().Dump(), r.outcome.exception.ToJson().Dump());
  EXPECT_EQ(back.outcome.traceback, "Traceback ...");
  EXPECT_EQ(back.outcome.exception_repr, "ValueError('boom')");
  EXPECT_EQ(back.outcome.retry_countdown, 0.25);
  ASSERT_TRUE(back.outcome.retry_eta.has_value());
  EXPECT_EQ(*back.outcome.retry_eta, *r.outcome.retry_eta);
  EXPECT_TRUE(back.outcome.has_exception);
  EXPECT_EQ(back.outcome.runtime_s, 0.5);
  EXPECT_EQ(back.rss_kib, 4096);
  EXPECT_THROW(DecodeResult(R"({"kind": "exploded"})"), std::exception);
}

}  // namespace
}  // namespace cw::pools
