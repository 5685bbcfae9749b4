// Pidbox requests and replies, against a request Celery 5.2.6 published (captured).
#include "control/mailbox.h"

#include <gtest/gtest.h>

#include <cw/protocol/base64.h>

namespace cw::control {
namespace {

// From ../shared/protocol/captures/events.monitor.txt: the `heartbeat` broadcast an
// EventReceiver sends when it starts.
const char* kCapturedHeartbeat =
    R"({"body": "eyJtZXRob2QiOiAiaGVhcnRiZWF0IiwgImFyZ3VtZW50cyI6IHt9LCAiZGVzdGluYXRpb24iOiBudWxsLCAicGF0dGVybiI6IG51bGwsICJtYXRjaGVyIjogbnVsbH0=", "content-encoding": "utf-8", "content-type": "application/json", "headers": {"clock": 37, "expires": 1795491578.4146476}, "properties": {"delivery_mode": 2, "delivery_info": {"exchange": "celery.pidbox", "routing_key": ""}, "priority": 0, "body_encoding": "base64", "delivery_tag": "7146a58b-15d2-4990-8e30-f649b27786ad"}})";

std::string Envelope(const Json& body) {
  return Json::MakeObject({{"body", protocol::Base64Encode(body.Dump())},
                           {"headers", Json::MakeObject({{"clock", 5}})},
                           {"properties", Json::MakeObject({{"body_encoding", "base64"}})}})
      .Dump();
}

TEST(Mailbox, DecodesACapturedBroadcast) {
  std::string error;
  const auto r = DecodeRequest(kCapturedHeartbeat, &error);
  ASSERT_TRUE(r.has_value()) << error;
  EXPECT_EQ(r->method, "heartbeat");
  EXPECT_TRUE(r->destination.empty());
  EXPECT_TRUE(r->ticket.empty());  // a cast: no reply expected
  EXPECT_EQ(r->clock, 37);
  EXPECT_TRUE(AddressedTo(*r, "w1@vm"));
}

TEST(Mailbox, AddressingByDestinationAndPattern) {
  std::string error;
  const auto to_one = DecodeRequest(
      Envelope(Json::Parse(R"({"method": "ping", "arguments": {}, "destination": ["w1@vm"],
        "pattern": null, "matcher": null, "ticket": "t-1",
        "reply_to": {"exchange": "reply.celery.pidbox", "routing_key": "oid-1"}})")),
      &error);
  ASSERT_TRUE(to_one.has_value()) << error;
  EXPECT_TRUE(AddressedTo(*to_one, "w1@vm"));
  EXPECT_FALSE(AddressedTo(*to_one, "w2@vm"));
  EXPECT_EQ(to_one->ticket, "t-1");
  EXPECT_EQ(to_one->reply_to, "oid-1");

  const auto by_glob = DecodeRequest(
      Envelope(Json::Parse(R"({"method": "ping", "arguments": {}, "destination": null,
        "pattern": "io-*", "matcher": "glob"})")),
      &error);
  ASSERT_TRUE(by_glob.has_value()) << error;
  EXPECT_TRUE(AddressedTo(*by_glob, "io-1@vm"));
  EXPECT_FALSE(AddressedTo(*by_glob, "cpu-1@vm"));
}

TEST(Mailbox, MalformedRequestsAreRefused) {
  std::string error;
  EXPECT_FALSE(DecodeRequest("not json", &error).has_value());
  EXPECT_FALSE(error.empty());
  EXPECT_FALSE(DecodeRequest(R"({"body": "!!!", "properties": {"body_encoding": "base64"}})",
                             &error)
                   .has_value());
  EXPECT_FALSE(DecodeRequest(Envelope(Json::Parse(R"({"arguments": {}})")), &error).has_value());
}

TEST(Mailbox, ReplyEnvelopeAndReplyQueues) {
  ControlRequest r;
  r.ticket = "t-9";
  r.reply_to = "oid-9";
  const Json env = Json::Parse(EncodeReply("w1@vm", Json::MakeObject({{"ok", "pong"}}), r, 12,
                                           "tag"));
  std::string body;
  ASSERT_TRUE(protocol::Base64Decode(env.At("body").as_string(), &body));
  EXPECT_EQ(body, R"({"w1@vm": {"ok": "pong"}})");
  EXPECT_EQ(env.At("headers").Dump(), R"({"ticket": "t-9", "clock": 12})");
  EXPECT_EQ(env.At("properties").At("delivery_info").Dump(),
            R"({"exchange": "reply.celery.pidbox", "routing_key": "oid-9"})");
  const std::vector<std::string> rows = {
      "oid-9\x06\x16\x06\x16oid-9.reply.celery.pidbox",
      "other\x06\x16\x06\x16other.reply.celery.pidbox", "garbage"};
  EXPECT_EQ(ReplyQueues(rows, "oid-9"), std::vector<std::string>{"oid-9.reply.celery.pidbox"});
  EXPECT_EQ(MailboxChannel(0), "/0.celery.pidbox");
}

}  // namespace
}  // namespace cw::control
