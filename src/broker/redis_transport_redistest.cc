// The broker against a real redis-server: kombu's key order, unacked bookkeeping, restores.
#include "broker/redis_transport.h"

#include <chrono>
#include <thread>

#include <gtest/gtest.h>

#include <cw/protocol/keys.h>
#include <cworker/json.h>

#include "testing/redis_fixture.h"

namespace cw::broker {
namespace {

class TransportTest : public ::testing::Test {
 protected:
  void SetUp() override { redis_.Call({"FLUSHDB"}); }

  RedisTransport MakeTransport(std::vector<std::string> queues = {"celery"}) {
    return RedisTransport(testing::TestRedisUrl(), std::move(queues), &stop_, &stop_);
  }
  Json Unacked(const std::string& tag) {
    return Json::Parse(redis_.Call({"HGET", "unacked", tag}).str());
  }

  std::atomic<bool> stop_{false};
  redis::Connection redis_{testing::TestRedisUrl(), "test"};
};

TEST_F(TransportTest, DeclareBindsQueuesAsKombu) {
  auto t = MakeTransport({"celery", "fast"});
  t.Declare();
  EXPECT_EQ(redis_.Call({"SISMEMBER", "_kombu.binding.fast", "fast\x06\x16\x06\x16" "fast"})
                .integer(),
            1);
}

TEST_F(TransportTest, FetchRecordsTheMessageInUnackedThenAckRemovesIt) {
  const std::string msg = testing::CapturedMessage("simple_task");
  redis_.Call({"LPUSH", "celery", msg});
  auto t = MakeTransport();
  auto d = t.Fetch(1);
  ASSERT_TRUE(d && d->envelope_ok);
  EXPECT_EQ(d->queue, "celery");
  EXPECT_EQ(d->payload, msg);
  const Json entry = Unacked(d->tag);
  EXPECT_EQ(entry.At(size_t{0}), Json::Parse(msg));
  EXPECT_EQ(entry.At(size_t{1}), Json(""));
  EXPECT_EQ(entry.At(size_t{2}), Json("celery"));
  const double score = std::stod(std::string(redis_.Call({"ZSCORE", "unacked_index", d->tag}).str()));
  EXPECT_NEAR(score, static_cast<double>(std::time(nullptr)), 5.0);
  t.Ack(d->tag);
  t.Flush();  // the ack is written behind: once its replies are read, Redis has run it
  EXPECT_EQ(redis_.Call({"HLEN", "unacked"}).integer(), 0);
  EXPECT_EQ(redis_.Call({"ZCARD", "unacked_index"}).integer(), 0);
}

TEST_F(TransportTest, FetchBatchPopsInKeyOrderAndRecordsEachAsKombuWould) {
  redis_.Call({"LPUSH", protocol::QueueKey("celery", 9), testing::CapturedMessage("priority_9")});
  redis_.Call({"LPUSH", "celery", testing::CapturedMessage("simple_task")});
  redis_.Call({"LPUSH", "celery", "not json at all"});
  redis_.Call({"LPUSH", "celery", testing::CapturedMessage("priority")});
  auto t = MakeTransport();
  // Three of four: priority 0 first (in queue order), the priority-9 one stays.
  std::vector<Delivery> batch = t.FetchBatch(3, 1);
  ASSERT_EQ(batch.size(), 3u);
  EXPECT_TRUE(batch[0].envelope_ok);
  EXPECT_FALSE(batch[1].envelope_ok);  // returned for the worker to report, recorded nowhere
  EXPECT_EQ(batch[1].payload, "not json at all");
  EXPECT_TRUE(batch[2].envelope_ok);
  EXPECT_EQ(redis_.Call({"HLEN", "unacked"}).integer(), 2);
  EXPECT_EQ(redis_.Call({"ZCARD", "unacked_index"}).integer(), 2);
  for (const Delivery& d : {batch[0], batch[2]}) {
    const Json entry = Unacked(d.tag);  // kombu's [message, exchange, routing_key]
    EXPECT_EQ(entry.At(size_t{0}), Json::Parse(d.payload));
    EXPECT_EQ(entry.At(size_t{1}), Json(""));
    EXPECT_EQ(entry.At(size_t{2}), Json("celery"));
  }
  EXPECT_EQ(redis_.Call({"LLEN", protocol::QueueKey("celery", 9)}).integer(), 1);
  batch = t.FetchBatch(10, 1);
  ASSERT_EQ(batch.size(), 1u);
  EXPECT_EQ(batch[0].envelope.priority, 9);
  // Restorable as kombu restores: back on its queue, out of unacked.
  EXPECT_TRUE(t.Restore(batch[0].tag, false));
  EXPECT_EQ(redis_.Call({"LLEN", protocol::QueueKey("celery", 9)}).integer(), 1);
  // Empty queues: it blocks for the timeout and returns nothing.
  redis_.Call({"DEL", protocol::QueueKey("celery", 9)});
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(t.FetchBatch(10, 0.2).empty());
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(150));
}

// A batch larger than one of the script's ZADD/HSET chunks, spread over two priority keys:
// taken oldest first, key by key, each recorded once, and exactly the rest left queued.
TEST_F(TransportTest, ALargeBatchIsTakenOldestFirstRecordedOnceAndTheRestLeft) {
  const std::string message = testing::CapturedMessage("simple_task");
  const std::string tag =
      Json::Parse(message).At("properties").At("delivery_tag").as_string();
  const auto with_tag = [&](const std::string& t) {
    std::string m = message;
    m.replace(m.find(tag), tag.size(), t);
    return m;
  };
  std::vector<std::string> pushed;  // in the order they were sent (LPUSH: oldest at the tail)
  for (int i = 0; i < 700; ++i) {
    pushed.push_back("p0-" + std::to_string(i));
    redis_.Call({"LPUSH", "celery", with_tag(pushed.back())});
  }
  for (int i = 0; i < 900; ++i) {
    redis_.Call({"LPUSH", protocol::QueueKey("celery", 3), with_tag("p3-" + std::to_string(i))});
  }
  auto t = MakeTransport();
  std::vector<Delivery> batch = t.FetchBatch(1200, 1);
  ASSERT_EQ(batch.size(), 1200u);
  for (size_t i = 0; i < batch.size(); ++i) {
    const std::string expected = i < 700 ? pushed[i] : "p3-" + std::to_string(i - 700);
    ASSERT_EQ(batch[i].tag, expected) << i;
    ASSERT_TRUE(batch[i].envelope_ok) << i;
  }
  EXPECT_EQ(redis_.Call({"HLEN", "unacked"}).integer(), 1200);
  EXPECT_EQ(redis_.Call({"ZCARD", "unacked_index"}).integer(), 1200);
  EXPECT_EQ(Unacked("p3-499").At(size_t{0}), Json::Parse(batch[1199].payload));
  EXPECT_EQ(redis_.Call({"EXISTS", "celery"}).integer(), 0);
  EXPECT_EQ(redis_.Call({"LLEN", protocol::QueueKey("celery", 3)}).integer(), 400);
  batch = t.FetchBatch(1000, 1);
  ASSERT_EQ(batch.size(), 400u);
  EXPECT_EQ(batch.front().tag, "p3-500");
  EXPECT_EQ(batch.back().tag, "p3-899");
  EXPECT_EQ(redis_.Call({"HLEN", "unacked"}).integer(), 1600);
}

// The pop script reads kombu's tag, exchange and routing key by plain search when the payload
// is laid out as Python's json.dumps writes it, and decodes it otherwise: either way the
// `unacked` entry must be the one kombu writes. Every captured message, as captured and
// re-serialised compactly (the decode path), and one whose headers carry look-alike keys.
TEST_F(TransportTest, PopScriptRecordsEveryCapturedMessageAsKombuWould) {
  std::vector<std::string> payloads;
  for (const char* version : {"celery-5.2.6", "celery-5.5"}) {
    for (const char* name : {"simple_task", "chain", "chord", "group", "countdown", "expires",
                             "kwargs_unicode", "compression"}) {
      std::string text;
      try {
        text = testing::CapturedMessage(name, version);
      } catch (const std::runtime_error&) {
        continue;  // not captured for this version
      }
      payloads.push_back(text);
      payloads.push_back(Json::Parse(text).Dump());  // no spaces: the script must decode
    }
  }
  ASSERT_GE(payloads.size(), 20u);
  // Laid out as json.dumps writes it (the plain-search path), with headers (which come before
  // the properties) holding look-alike keys and an escaped look-alike in a string.
  std::string tricky = testing::CapturedMessage("simple_task");
  const size_t headers = tricky.find("\"headers\": {");
  ASSERT_NE(headers, std::string::npos);
  tricky.insert(headers + 12,
                "\"delivery_tag\": \"not-the-tag\", \"delivery_info\": {\"exchange\": "
                "\"nope\", \"routing_key\": \"nope\"}, \"note\": \"\\\"properties\\\": "
                "{\\\"delivery_tag\\\": \\\"x\\\"\", ");
  ASSERT_NO_THROW(Json::Parse(tricky)) << tricky;
  payloads.push_back(tricky);
  auto t = MakeTransport();
  for (const std::string& payload : payloads) {
    redis_.Call({"LPUSH", "celery", payload});
    std::vector<Delivery> batch = t.FetchBatch(1, 1);
    ASSERT_EQ(batch.size(), 1u);
    ASSERT_TRUE(batch[0].envelope_ok) << payload;
    const Json entry = Unacked(batch[0].tag);
    ASSERT_TRUE(entry.is_array()) << payload;
    EXPECT_EQ(entry.At(size_t{0}), Json::Parse(payload));
    EXPECT_EQ(entry.At(size_t{1}), Json(batch[0].envelope.exchange));
    EXPECT_EQ(entry.At(size_t{2}), Json(batch[0].envelope.routing_key.empty()
                                            ? std::string("celery")
                                            : batch[0].envelope.routing_key));
    EXPECT_EQ(redis_.Call({"HLEN", "unacked"}).integer(), 1) << payload;  // one entry, one tag
    t.Ack(batch[0].tag);
    t.Flush();
  }
}

TEST_F(TransportTest, AcksWrittenBehindSurviveALostConnection) {
  redis_.Call({"LPUSH", "celery", testing::CapturedMessage("simple_task")});
  redis_.Call({"LPUSH", "celery", testing::CapturedMessage("priority")});  // another tag
  auto t = MakeTransport();
  std::vector<Delivery> batch = t.FetchBatch(2, 1);
  ASSERT_EQ(batch.size(), 2u);
  t.Ack(batch[0].tag);
  t.Flush();
  EXPECT_EQ(redis_.Call({"HLEN", "unacked"}).integer(), 1);
  // Every other client is cut off (the transport's connections among them), then an ack is
  // written behind: it reaches Redis once the connection is back.
  redis_.Call({"CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"});
  t.Ack(batch[1].tag);
  t.Flush();
  EXPECT_EQ(redis_.Call({"HLEN", "unacked"}).integer(), 0);
  EXPECT_EQ(redis_.Call({"ZCARD", "unacked_index"}).integer(), 0);
}

TEST_F(TransportTest, ServesPriorityZeroFirstAndNineLast) {
  redis_.Call({"LPUSH", protocol::QueueKey("celery", 9), testing::CapturedMessage("priority_9")});
  redis_.Call({"LPUSH", protocol::QueueKey("celery", 4), testing::CapturedMessage("priority_4")});
  redis_.Call({"LPUSH", "celery", testing::CapturedMessage("priority")});
  auto t = MakeTransport();
  std::vector<int> seen;
  for (int i = 0; i < 3; ++i) {
    auto d = t.Fetch(1);
    ASSERT_TRUE(d && d->envelope_ok);
    seen.push_back(d->envelope.priority);
  }
  EXPECT_EQ(seen, (std::vector<int>{0, 4, 9}));
}

TEST_F(TransportTest, RotatesQueuesRoundRobin) {
  const std::string msg = testing::CapturedMessage("simple_task");
  for (int i = 0; i < 2; ++i) {
    redis_.Call({"LPUSH", "a", msg});
    redis_.Call({"LPUSH", "b", msg});
  }
  auto t = MakeTransport({"a", "b"});
  std::vector<std::string> order;
  for (int i = 0; i < 4; ++i) order.push_back(t.Fetch(1)->queue);
  EXPECT_EQ(order, (std::vector<std::string>{"a", "b", "a", "b"}));
}

TEST_F(TransportTest, RestorePutsItBackRedeliveredIntoItsPriorityList) {
  redis_.Call({"LPUSH", "celery", testing::CapturedMessage("simple_task")});
  redis_.Call({"LPUSH", protocol::QueueKey("celery", 4), testing::CapturedMessage("priority_4")});
  auto t = MakeTransport();
  auto first = t.Fetch(1);
  auto second = t.Fetch(1);
  ASSERT_TRUE(first && second);
  EXPECT_TRUE(t.Restore(second->tag, false));
  EXPECT_EQ(redis_.Call({"HEXISTS", "unacked", second->tag}).integer(), 0);
  const redis::Reply back = redis_.Call({"LINDEX", protocol::QueueKey("celery", 4), "-1"});
  const Json env = Json::Parse(back.str());
  EXPECT_EQ(env.At("headers").At("redelivered"), Json(true));
  EXPECT_EQ(env.At("properties").At("delivery_info").At("redelivered"), Json(true));
  EXPECT_EQ(env.At("properties").At("delivery_tag"), Json(second->tag));
  EXPECT_FALSE(t.Restore(second->tag, false));  // already gone
  t.Ack(first->tag);
}

TEST_F(TransportTest, RequeueGoesToTheFarEndOfTheList) {
  const std::string msg = testing::CapturedMessage("simple_task");
  redis_.Call({"LPUSH", "celery", msg});
  auto t = MakeTransport();
  auto d = t.Fetch(1);
  redis_.Call({"LPUSH", "celery", testing::CapturedMessage("failure")});
  ASSERT_TRUE(t.Restore(d->tag, true));
  auto next = t.Fetch(1);
  ASSERT_TRUE(next);
  EXPECT_EQ(next->envelope.doc.At("headers").At("task"), Json("tasks.fail"));
  t.Ack(next->tag);
}

TEST_F(TransportTest, GarbageIsReportedAndNotRecorded) {
  redis_.Call({"LPUSH", "celery", "{not json"});
  auto t = MakeTransport();
  auto d = t.Fetch(1);
  ASSERT_TRUE(d);
  EXPECT_FALSE(d->envelope_ok);
  EXPECT_FALSE(d->error.empty());
  EXPECT_EQ(redis_.Call({"HLEN", "unacked"}).integer(), 0);
}

// The idle wait: nothing is popped until something is pushed, then the script pops and records
// it in one step. It must wake at once, not at its timeout.
TEST_F(TransportTest, IdleFetchWakesAtOnceOnAPushAndRecordsItAtomically) {
  auto t = MakeTransport();
  std::thread producer([] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    redis::Connection other(testing::TestRedisUrl(), "producer");
    other.Call({"LPUSH", protocol::QueueKey("celery", 4), testing::CapturedMessage("priority_4")});
  });
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<Delivery> batch = t.FetchBatch(10, 5);
  const auto waited = std::chrono::steady_clock::now() - t0;
  producer.join();
  ASSERT_EQ(batch.size(), 1u);
  EXPECT_GE(waited, std::chrono::milliseconds(250));
  EXPECT_LT(waited, std::chrono::milliseconds(1500));  // woken by the push, not the 5 s timeout
  EXPECT_FALSE(t.may_block_in_brpop());
  EXPECT_EQ(Unacked(batch[0].tag).At(size_t{0}), Json::Parse(batch[0].payload));
  // Our own pops do not wake us (NOLOOP): an empty wait lasts its timeout.
  const auto t1 = std::chrono::steady_clock::now();
  EXPECT_TRUE(t.FetchBatch(10, 0.3).empty());
  EXPECT_GE(std::chrono::steady_clock::now() - t1, std::chrono::milliseconds(250));
}

TEST_F(TransportTest, KillingTheWakeConnectionEndsTheIdleWait) {
  auto t = MakeTransport();
  EXPECT_TRUE(t.FetchBatch(10, 0.05).empty());  // sets the wait up
  ASSERT_GE(t.wake_client_id(), 0);
  std::thread killer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    stop_.store(true);
    redis::Connection other(testing::TestRedisUrl(), "killer");
    other.Call({"CLIENT", "KILL", "ID", std::to_string(t.wake_client_id())});
  });
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(t.FetchBatch(10, 10).empty());
  killer.join();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
}

// A Redis (or an ACL user) without client tracking: BRPOP as kombu does, still at once.
TEST_F(TransportTest, WithoutClientTrackingTheIdleFetchBlocksInBrpop) {
  redis_.Call({"ACL", "SETUSER", "notrack", "on", ">pw", "~*", "&*", "+@all", "-client|tracking"});
  redis::Url url = testing::TestRedisUrl();
  url.username = "notrack";
  url.password = "pw";
  RedisTransport t(url, {"celery"}, &stop_, &stop_);
  std::thread producer([] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    redis::Connection other(testing::TestRedisUrl(), "producer");
    other.Call({"LPUSH", "celery", testing::CapturedMessage("simple_task")});
  });
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<Delivery> batch = t.FetchBatch(10, 5);
  const auto waited = std::chrono::steady_clock::now() - t0;
  producer.join();
  redis_.Call({"ACL", "DELUSER", "notrack"});
  ASSERT_EQ(batch.size(), 1u);
  EXPECT_LT(waited, std::chrono::milliseconds(1500));
  EXPECT_TRUE(t.may_block_in_brpop());
  EXPECT_EQ(redis_.Call({"HEXISTS", "unacked", batch[0].tag}).integer(), 1);
}

// Visibility timeout: a held message's lease is refreshed, a lost worker's expires and is
// restored; the restore takes kombu's unacked_mutex, and leaves it alone when another has it.
TEST_F(TransportTest, LeasesKeepHeldMessagesAndRestoreVisibleTakesTheRest) {
  redis_.Call({"LPUSH", "celery", testing::CapturedMessage("simple_task")});
  redis_.Call({"LPUSH", "celery", testing::CapturedMessage("priority")});
  redis_.Call({"LPUSH", "celery", testing::CapturedMessage("failure")});
  auto t = MakeTransport();
  std::vector<Delivery> batch = t.FetchBatch(3, 1);
  ASSERT_EQ(batch.size(), 3u);
  const std::string held = batch[0].tag, lost = batch[1].tag, acked = batch[2].tag;
  t.Ack(acked);
  t.Flush();
  const std::string old = std::to_string(std::time(nullptr) - 100);
  redis_.Call({"ZADD", "unacked_index", old, held, old, lost});
  EXPECT_EQ(t.ExtendLeases({held, acked}), 1);  // the acked one is not brought back
  EXPECT_EQ(redis_.Call({"ZSCORE", "unacked_index", acked}).is_nil(), true);
  redis_.Call({"SET", "unacked_mutex", "someone-else"});
  EXPECT_EQ(t.RestoreVisible(50), 0);  // another worker is restoring
  EXPECT_EQ(redis_.Call({"HEXISTS", "unacked", lost}).integer(), 1);
  EXPECT_EQ(redis_.Call({"GET", "unacked_mutex"}).str(), "someone-else");
  redis_.Call({"DEL", "unacked_mutex"});
  EXPECT_EQ(t.RestoreVisible(50), 1);
  EXPECT_EQ(redis_.Call({"HEXISTS", "unacked", lost}).integer(), 0);
  EXPECT_EQ(redis_.Call({"HEXISTS", "unacked", held}).integer(), 1);
  EXPECT_EQ(redis_.Call({"EXISTS", "unacked_mutex"}).integer(), 0);  // released
  const Json back = Json::Parse(redis_.Call({"LINDEX", "celery", "-1"}).str());
  EXPECT_EQ(back.At("properties").At("delivery_tag"), Json(lost));
  EXPECT_EQ(back.At("headers").At("redelivered"), Json(true));
}

TEST_F(TransportTest, FetchTimesOutOnEmptyQueues) {
  auto t = MakeTransport();
  EXPECT_FALSE(t.Fetch(0.05).has_value());
}

}  // namespace
}  // namespace cw::broker
