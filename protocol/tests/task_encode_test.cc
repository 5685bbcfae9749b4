#include <cw/protocol/task_encode.h>

#include <cw/protocol/base64.h>

#include <gtest/gtest.h>

#include "fixtures.h"

namespace cw::protocol {
namespace {

TaskMessage Decode(const std::string& text, Envelope* env_out) {
  std::string error;
  auto env = ParseEnvelope(text, &error);
  EXPECT_TRUE(env) << error;
  DecodeError derr;
  auto msg = DecodeTaskMessage(*env, &derr);
  EXPECT_TRUE(msg) << derr.message;
  *env_out = *env;
  return *msg;
}

PublishTarget TargetOf(const Envelope& env) {
  return PublishTarget{env.exchange, env.routing_key, env.priority, env.delivery_tag};
}

// Decoding what Celery published and encoding it again must give Celery's bytes back: our
// encoder writes what Celery writes, field for field.
TEST(EncodeTaskEnvelope, ReproducesCapturedMessagesByteForByte) {
  for (const char* name : {"celery-5.2.6/simple_task.message.json",
                           "celery-5.2.6/kwargs_unicode.message.json",
                           "celery-5.2.6/countdown.message.json",
                           "celery-5.2.6/chain.message.json",
                           "celery-5.5/simple_task.message.json",
                           "celery-5.5/chord.message.json"}) {
    const std::string text(
        testing::StripNewline(testing::ReadFixture(std::string("protocol/fixtures/") + name)));
    Envelope env;
    const TaskMessage msg = Decode(text, &env);
    EXPECT_EQ(EncodeTaskEnvelope(msg, TargetOf(env)), text) << name;
  }
}

TEST(EncodeTaskEnvelope, RoundTripsChangedFields) {
  Envelope env;
  TaskMessage msg = Decode(std::string(testing::StripNewline(testing::ReadFixture(
                               "protocol/fixtures/celery-5.2.6/simple_task.message.json"))),
                           &env);
  msg.retries = 3;
  msg.eta = "2026-11-24T03:38:38.759585+00:00";
  msg.parent_id = msg.id;
  msg.time_limit = 1.0;
  msg.soft_time_limit = 0.5;
  const std::string text = EncodeTaskEnvelope(msg, {"", "fast", 4, "tag-1"});
  Envelope again;
  const TaskMessage back = Decode(text, &again);
  EXPECT_EQ(back.retries, 3);
  EXPECT_EQ(back.eta, msg.eta);
  EXPECT_EQ(back.parent_id, msg.id);
  EXPECT_EQ(back.args, msg.args);
  EXPECT_EQ(again.routing_key, "fast");
  EXPECT_EQ(again.priority, 4);
  EXPECT_EQ(again.delivery_tag, "tag-1");
  EXPECT_NE(text.find(R"("timelimit": [1, 0.5])"), std::string::npos);
}

// Celery 5.2.6's worker-online event as PUBLISHed (../shared/protocol/captures/events.monitor.txt).
TEST(EncodeTransientEnvelope, ReproducesACapturedEventByteForByte) {
  const std::string captured =
      R"({"body": "eyJob3N0bmFtZSI6ICJ3M0B2bSIsICJ1dGNvZmZzZXQiOiAwLCAicGlkIjogMjM3NjMsICJjbG9jayI6IDEsICJmcmVxIjogMi4wLCAiYWN0aXZlIjogMCwgInByb2Nlc3NlZCI6IDAsICJsb2FkYXZnIjogWzEuNCwgMS40OCwgMS4wM10sICJzd19pZGVudCI6ICJweS1jZWxlcnkiLCAic3dfdmVyIjogIjUuMi42IiwgInN3X3N5cyI6ICJMaW51eCIsICJ0aW1lc3RhbXAiOiAxNzk1NDkxNTc5LjQ0NDA5OTIsICJ0eXBlIjogIndvcmtlci1vbmxpbmUifQ==", "content-encoding": "utf-8", "content-type": "application/json", "headers": {"hostname": "w3@vm"}, "properties": {"delivery_mode": 1, "delivery_info": {"exchange": "celeryev", "routing_key": "worker.online"}, "priority": 0, "body_encoding": "base64", "delivery_tag": "09c446d2-6a4f-4357-a744-ba0f8944f4b9"}})";
  std::string body;
  ASSERT_TRUE(Base64Decode(Json::Parse(captured).At("body").as_string(), &body));
  EXPECT_EQ(EncodeTransientEnvelope(body, Json::MakeObject({{"hostname", "w3@vm"}}), "celeryev",
                                    "worker.online", "09c446d2-6a4f-4357-a744-ba0f8944f4b9"),
            captured);
}

}  // namespace
}  // namespace cw::protocol
