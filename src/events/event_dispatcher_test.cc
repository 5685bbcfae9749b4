// Event objects and envelopes, checked against what Celery 5.2.6 published (captured in
// ../shared/protocol/captures/events.monitor.txt).
#include "events/event_dispatcher.h"

#include <gtest/gtest.h>

#include <cw/protocol/base64.h>

namespace cw::events {
namespace {

TEST(Events, FieldsComeInCeleryOrder) {
  const Json event = MakeEvent("task-succeeded", "w3@vm", 23763, 4,
                               Json::MakeObject({{"uuid", "a1f6"}, {"result", "3"},
                                                 {"runtime", 0.5}}),
                               1795491580.5, 0);
  EXPECT_EQ(event.Dump(),
            R"({"hostname": "w3@vm", "utcoffset": 0, "pid": 23763, "clock": 4, "uuid": "a1f6", )"
            R"("result": "3", "runtime": 0.5, "timestamp": 1795491580.5, "type": "task-succeeded"})");
}

TEST(Events, EnvelopeIsKombusFanoutEnvelope) {
  // The captured worker-online envelope, with its body and tag replaced by ours.
  const Json body = MakeEvent("worker-online", "w3@vm", 23763, 1,
                              Json::MakeObject({{"freq", 2.0}}), 1795491579.25, 0);
  const std::string text = EncodeEventEnvelope(body, "w3@vm", "worker.online", "tag-1");
  const Json envelope = Json::Parse(text);
  std::string decoded;
  ASSERT_TRUE(protocol::Base64Decode(envelope.At("body").as_string(), &decoded));
  EXPECT_EQ(Json::Parse(decoded).Dump(), body.Dump());
  Json rest = envelope;
  rest.Set("body", "B");
  EXPECT_EQ(rest.Dump(),
            R"({"body": "B", "content-encoding": "utf-8", "content-type": "application/json", )"
            R"("headers": {"hostname": "w3@vm"}, "properties": {"delivery_mode": 1, )"
            R"("delivery_info": {"exchange": "celeryev", "routing_key": "worker.online"}, )"
            R"("priority": 0, "body_encoding": "base64", "delivery_tag": "tag-1"}})");
}

TEST(Events, ChannelsAndRoutingKeys) {
  EXPECT_EQ(RoutingKey("worker-heartbeat"), "worker.heartbeat");
  EXPECT_EQ(RoutingKey("task-succeeded"), "task.succeeded");
  EXPECT_EQ(EventChannel(0, "worker.online"), "/0.celeryev/worker.online");
  EXPECT_EQ(EventChannel(3, "task.failed"), "/3.celeryev/task.failed");
}

}  // namespace
}  // namespace cw::events
