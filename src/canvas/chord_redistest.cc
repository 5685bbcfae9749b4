// Chord completion against a real Redis, from header messages captured from Celery 5.2.6 and
// 5.5: the parts are counted in celery-taskset-meta-<gid>.j/.s exactly as Celery's Redis
// backend counts them, the body is sent once with the results in header order, and a failed
// part turns into ChordError on the body.
#include <gtest/gtest.h>

#include <cw/protocol/task_message.h>

#include "backend/redis_backend.h"
#include "canvas/applier.h"
#include "canvas/continuations.h"
#include "testing/redis_fixture.h"

namespace cw::canvas {
namespace {
namespace p = cw::protocol;

class Recorder : public MessageSink {
 public:
  void Publish(const Route&, int, const std::string& envelope) override {
    std::string error;
    auto env = p::ParseEnvelope(envelope, &error);
    p::DecodeError derr;
    sent.push_back(*p::DecodeTaskMessage(*env, &derr));
  }
  void SetChordSize(const std::string&, int64_t) override {}
  std::vector<p::TaskMessage> sent;
};

p::TaskMessage Decode(const std::string& text) {
  std::string error;
  auto env = p::ParseEnvelope(text, &error);
  p::DecodeError derr;
  return *p::DecodeTaskMessage(*env, &derr);
}

RequestInfo RequestOf(const p::TaskMessage& m) {
  RequestInfo r;
  r.id = m.id;
  r.root_id = m.root_id;
  r.headers = m.headers;
  return r;
}

class ChordTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    redis_.Call({"FLUSHDB"});
    first_ = Decode(testing::CapturedMessage("chord", GetParam()));
    second_ = first_;  // the second header member: same chord, index 1
    second_.id = "0b0b0b0b-0000-4000-8000-000000000002";
    second_.group_index = 1;
    gid_ = first_.group;
    // What the producer stored before publishing the last header message.
    backend_.SetAndPublish("celery-taskset-meta-" + gid_ + ".s", "2");
  }
  std::string Key(const char* suffix) { return "celery-taskset-meta-" + gid_ + suffix; }

  std::atomic<bool> stop_{false};
  redis::Connection redis_{testing::TestRedisUrl(1), "test"};
  backend::RedisBackend backend_{testing::TestRedisUrl(1), 86400, &stop_};
  Recorder sink_;
  Applier applier_{&sink_, Router(), "gen1@test", "oid"};
  Continuations cont_{&applier_, &backend_};
  p::TaskMessage first_, second_;
  std::string gid_;
};

TEST_P(ChordTest, LastPartSendsTheBodyOnceWithResultsInHeaderOrder) {
  cont_.OnReady(second_, RequestOf(second_), "SUCCESS", Json(4));  // index 1 finishes first
  EXPECT_TRUE(sink_.sent.empty());
  EXPECT_EQ(redis_.Call({"ZCARD", Key(".j")}).integer(), 1);
  EXPECT_GT(redis_.Call({"TTL", Key(".j")}).integer(), 86000);
  cont_.OnReady(first_, RequestOf(first_), "SUCCESS", Json(2));
  ASSERT_EQ(sink_.sent.size(), 1u);
  const p::TaskMessage& body = sink_.sent[0];
  EXPECT_EQ(body.task, "tasks.tsum");
  EXPECT_EQ(body.args.Dump(), "[[2, 4]]");
  EXPECT_EQ(body.id, first_.embed.At("chord").At("options").At("task_id").as_string());
  EXPECT_EQ(body.parent_id, first_.id);  // the part that completed the chord
  EXPECT_TRUE(body.group.empty());
  for (const char* suffix : {".j", ".t", ".s"}) {
    EXPECT_EQ(redis_.Call({"EXISTS", Key(suffix)}).integer(), 0) << suffix;
  }
  // A duplicate report (a redelivered part) finds no ".s" and sends nothing more.
  cont_.OnReady(first_, RequestOf(first_), "SUCCESS", Json(2));
  EXPECT_EQ(sink_.sent.size(), 1u);
}

TEST_P(ChordTest, FailedPartStoresChordErrorOnTheBody) {
  const Json exc = Json::Parse(
      R"({"exc_type": "ValueError", "exc_message": ["header part failed"], "exc_module": "builtins"})");
  cont_.OnReady(first_, RequestOf(first_), "SUCCESS", Json(2));
  cont_.OnReady(second_, RequestOf(second_), "FAILURE", exc);
  EXPECT_TRUE(sink_.sent.empty());  // the body never runs
  const std::string body_id = first_.embed.At("chord").At("options").At("task_id").as_string();
  const Json record = Json::Parse(std::string(redis_.Call({"GET", "celery-task-meta-" + body_id}).str()));
  EXPECT_EQ(record.At("status").as_string(), "FAILURE");
  EXPECT_EQ(record.At("result").Dump(),
            R"x({"exc_type": "ChordError", "exc_message": ["Dependency )x" + second_.id +
                R"x( raised ValueError('header part failed')"], "exc_module": "celery.exceptions"})x");
  EXPECT_EQ(redis_.Call({"EXISTS", Key(".j")}).integer(), 1);  // left to expire, as Celery
}

INSTANTIATE_TEST_SUITE_P(CapturedChords, ChordTest,
                         ::testing::Values("celery-5.2.6", "celery-5.5"),
                         [](const auto& param_info) {
                           std::string n = param_info.param;
                           for (char& c : n) if (c == '-' || c == '.') c = '_';
                           return n;
                         });

}  // namespace
}  // namespace cw::canvas
