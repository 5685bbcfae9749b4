// The connection's async engine, used from green fibers, against the real test Redis.
#include "redis/connection.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "green/waits.h"
#include "testing/redis_fixture.h"

namespace cw::redis {
namespace {

TEST(AsyncConnection, ManyFibersShareOneConnectionAndEachGetsItsOwnReply) {
  green::Scheduler s;
  Connection conn(testing::TestRedisUrl(3), "test");
  constexpr int kFibers = 2000;
  int correct = 0;
  s.Spawn([&] { conn.Call({"DEL", "cw:async:n"}); });
  s.Run();
  for (int i = 0; i < kFibers; ++i) {
    s.Spawn([&conn, &correct, i] {
      const std::string key = "cw:async:k" + std::to_string(i);
      conn.Call({"SET", key, std::to_string(i)});
      conn.Call({"INCR", "cw:async:n"});
      if (conn.Call({"GET", key}).str() == std::to_string(i)) ++correct;
    });
  }
  s.Run();
  EXPECT_EQ(correct, kFibers);
  Connection check(testing::TestRedisUrl(3), "check");  // a blocking one, on this thread
  EXPECT_EQ(check.Call({"GET", "cw:async:n"}).str(), std::to_string(kFibers));
}

TEST(AsyncConnection, PipelinesStayContiguousAcrossFibers) {
  green::Scheduler s;
  Connection conn(testing::TestRedisUrl(3), "test");
  int committed = 0;
  for (int i = 0; i < 200; ++i) {
    s.Spawn([&conn, &committed, i] {
      const std::string key = "cw:async:m" + std::to_string(i % 7);
      auto replies = conn.Pipeline({{"MULTI"}, {"INCR", key}, {"EXPIRE", key, "60"}, {"EXEC"}});
      if (replies.size() == 4 && replies[3].is_array() && replies[3].size() == 2) ++committed;
    });
  }
  s.Run();
  EXPECT_EQ(committed, 200);
}

TEST(AsyncConnection, ErrorRepliesAreReturnedAndScriptsRun) {
  green::Scheduler s;
  Connection conn(testing::TestRedisUrl(3), "test");
  bool error_seen = false;
  std::string script_result;
  s.Spawn([&] {
    error_seen = conn.Call({"NOSUCHCOMMAND"}).is_error();
    const Script script("return ARGV[1] .. KEYS[1]");
    script_result = std::string(conn.Eval(script, {"k"}, {"v"}).str());
  });
  s.Run();
  EXPECT_TRUE(error_seen);
  EXPECT_EQ(script_result, "vk");
}

// The fiber keeps hiredis's own reply tree (not a copy): nested elements and strings stay
// readable after many more replies went through the same reader, and deferred replies, which
// nobody keeps, are still freed (ASan's leak check in the sanitizer build).
TEST(AsyncConnection, KeptRepliesOutliveTheCallbackAndTheRepliesAfterThem) {
  green::Scheduler s;
  Connection conn(testing::TestRedisUrl(3), "test");
  std::vector<Reply> kept;
  s.Spawn([&] {
    const Script nested("return {KEYS[1], {ARGV[1], 7, {ARGV[2]}}, 'ok'}");
    for (int i = 0; i < 50; ++i) {
      const std::string n = std::to_string(i);
      kept.push_back(conn.Eval(nested, {"key-" + n}, {std::string(40, 'a') + n, "deep-" + n}));
      conn.Defer({{"SET", "cw:async:kept" + n, n}, {"INCR", "cw:async:kept-count"}});
    }
    conn.Flush(nullptr);
  });
  s.Run();
  ASSERT_EQ(kept.size(), 50u);
  for (int i = 0; i < 50; ++i) {
    const std::string n = std::to_string(i);
    const Reply& r = kept[i];
    ASSERT_TRUE(r.is_array());
    ASSERT_EQ(r.size(), 3u);
    EXPECT_EQ(r.at(0).str(), "key-" + n);
    EXPECT_EQ(r.at(1).at(0).str(), std::string(40, 'a') + n);
    EXPECT_EQ(r.at(1).at(1).integer(), 7);
    EXPECT_EQ(r.at(1).at(2).at(0).str(), "deep-" + n);
    EXPECT_EQ(r.at(2).str(), "ok");
  }
  const Reply element = kept.front().at(1).at(2);  // an element outlives its root's Reply
  kept.clear();
  EXPECT_EQ(element.at(0).str(), "deep-0");
}

TEST(AsyncConnection, ReconnectsAfterTheServerDropsIt) {
  green::Scheduler s;
  Connection conn(testing::TestRedisUrl(3), "test");
  std::string after;
  bool lost = false;
  s.Spawn([&] {
    conn.Call({"CLIENT", "SETNAME", "cw-async-victim"});
    try {
      conn.Call({"BRPOP", "cw:async:never", "5"});  // pending when the server drops us
    } catch (const ConnectionError&) {
      lost = true;
    }
    after = std::string(conn.CallRetrying({"PING"}, nullptr).str());
  });
  s.Spawn([&] {
    green::SleepFor(std::chrono::milliseconds(30));
    Connection killer(testing::TestRedisUrl(3), "killer");
    killer.Call({"CLIENT", "KILL", "SKIPME", "yes", "TYPE", "normal"});
  });
  const auto start = std::chrono::steady_clock::now();
  s.Run();
  EXPECT_TRUE(lost);
  EXPECT_EQ(after, "PONG");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(4));
}

// Write-behind in fibers: Defer returns after a loop turn without the reply; writes the server
// never answered (the connection was killed under them) go again, in order, once it is back,
// and Flush waits until every one is answered. A NOSCRIPT reply is answered with EVAL.
TEST(AsyncConnection, DeferredWritesAreResentAfterALostConnectionAndFlushWaitsForThem) {
  green::Scheduler s;
  Connection conn(testing::TestRedisUrl(3), "test");
  Connection check(testing::TestRedisUrl(3), "check");
  check.Call({"DEL", "cw:async:list", "cw:async:scripted"});
  const Script script("return redis.call('INCR', KEYS[1])");
  bool returned_early = false;
  conn.track_client_id();
  s.Spawn([&] {
    conn.Connect();
    conn.Eval(script, {"cw:async:scripted"}, {});  // loaded here
    // Held back: Redis cannot answer while paused, yet Defer returns.
    check.Call({"CLIENT", "PAUSE", "300", "WRITE"});
    for (int i = 0; i < 100; ++i) conn.Defer({{"RPUSH", "cw:async:list", std::to_string(i)}});
    returned_early = true;
    // Killed before the pause ends: the hundred are unanswered, so they are sent again.
    Connection killer(testing::TestRedisUrl(3), "killer");
    killer.Call({"CLIENT", "KILL", "ID", std::to_string(conn.client_id())});
    green::SleepFor(std::chrono::milliseconds(50));
    killer.Call({"SCRIPT", "FLUSH"});  // and the script cache is gone
    conn.DeferEval(script, {"cw:async:scripted"}, {});
    for (int i = 100; i < 150; ++i) conn.Defer({{"RPUSH", "cw:async:list", std::to_string(i)}});
    conn.Flush(nullptr);
  });
  s.Run();
  EXPECT_TRUE(returned_early);
  // Each write ran once or, if it had run before the kill, twice; in order, none lost.
  const Reply list = check.Call({"LRANGE", "cw:async:list", "0", "-1"});
  ASSERT_TRUE(list.is_array());
  std::vector<int> seen;
  for (size_t i = 0; i < list.size(); ++i) seen.push_back(std::stoi(std::string(list.at(i).str())));
  for (int i = 0; i < 150; ++i) {
    EXPECT_NE(std::find(seen.begin(), seen.end(), i), seen.end()) << i;
  }
  EXPECT_LE(seen.size(), 250u);
  EXPECT_EQ(seen.back(), 149);
  EXPECT_EQ(check.Call({"GET", "cw:async:scripted"}).str(), "2");
}

// A deferred command is kept as sent, key prefix included: a NOSCRIPT'd EVALSHA goes again as
// EVAL with its keys prefixed once, on a plain thread and in a fiber alike.
TEST(AsyncConnection, DeferredScriptUnderAKeyPrefixIsEvaluatedAgainWithTheKeyPrefixedOnce) {
  Connection check(testing::TestRedisUrl(3), "check");
  for (const bool in_fiber : {false, true}) {
    check.Call({"DEL", "pfx:cw:scripted", "pfx:pfx:cw:scripted", "pfx:cw:plain"});
    green::Scheduler s;  // outlives the connection attached to its loop
    Url url = testing::TestRedisUrl(3);
    url.key_prefix = "pfx:";
    Connection conn(url, "prefixed");
    const Script script("return redis.call('INCRBY', KEYS[1], ARGV[1])");
    auto writes = [&] {
      conn.Eval(script, {"cw:scripted"}, {"1"});  // loaded here
      check.Call({"SCRIPT", "FLUSH"});            // and gone before the deferred EVALSHA
      conn.DeferEval(script, {"cw:scripted"}, {"10"});
      conn.Defer({{"SET", "cw:plain", "x"}});
      conn.Flush(nullptr);
    };
    if (in_fiber) {
      s.Spawn(writes);
      s.Run();
    } else {
      writes();
    }
    EXPECT_EQ(check.Call({"GET", "pfx:cw:scripted"}).str(), "11") << in_fiber;
    EXPECT_TRUE(check.Call({"GET", "pfx:pfx:cw:scripted"}).is_nil()) << in_fiber;
    EXPECT_EQ(check.Call({"GET", "pfx:cw:plain"}).str(), "x") << in_fiber;
  }
}

TEST(AsyncConnection, BlockingCommandParksOnlyItsFiber) {
  green::Scheduler s;
  Connection blocking(testing::TestRedisUrl(3), "brpop");
  Connection other(testing::TestRedisUrl(3), "other");
  std::string popped;
  int pings = 0;
  s.Spawn([&] {
    blocking.Call({"DEL", "cw:async:list"});
    const Reply r = blocking.Call({"BRPOP", "cw:async:list", "2"});
    if (r.is_array()) popped = std::string(r.at(1).str());
  });
  s.Spawn([&] {
    for (int i = 0; i < 10; ++i) {
      if (other.Call({"PING"}).str() == "PONG") ++pings;
    }
    other.Call({"LPUSH", "cw:async:list", "hello"});
  });
  s.Run();
  EXPECT_EQ(pings, 10);
  EXPECT_EQ(popped, "hello");
}

TEST(AsyncConnection, RefusedConnectionThrows) {
  green::Scheduler s;
  Url url = testing::TestRedisUrl(3);
  url.port = 1;  // nothing listens there
  Connection conn(url, "refused");
  bool refused = false;
  s.Spawn([&] {
    try {
      conn.Call({"PING"});
    } catch (const ConnectionError&) {
      refused = true;
    }
  });
  const auto start = std::chrono::steady_clock::now();
  s.Run();
  EXPECT_TRUE(refused);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
}

}  // namespace
}  // namespace cw::redis
