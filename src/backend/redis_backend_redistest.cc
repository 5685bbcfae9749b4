// The result backend against a real redis-server: record bytes, expiry, SUCCESS is sticky.
#include "backend/redis_backend.h"

#include <gtest/gtest.h>

#include <cworker/json.h>

#include "testing/redis_fixture.h"

namespace cw::backend {
namespace {

class BackendTest : public ::testing::Test {
 protected:
  void SetUp() override { redis_.Call({"FLUSHDB"}); }
  protocol::ResultMeta Meta(std::string_view status, Json result) {
    protocol::ResultMeta m;
    m.status = status;
    m.result = std::move(result);
    m.date_done = "2026-11-24T03:25:03.388304";
    m.task_id = "254de228-3c4b-4bb4-8620-8689aa24b6f4";
    return m;
  }
  std::atomic<bool> stop_{false};
  redis::Connection redis_{testing::TestRedisUrl(1), "test"};
};

TEST_F(BackendTest, StoresCeleryRecordWithOneDayExpiry) {
  RedisBackend backend(testing::TestRedisUrl(1), 86400, &stop_);
  EXPECT_TRUE(backend.Store(Meta("SUCCESS", Json(4))));
  const std::string key = "celery-task-meta-254de228-3c4b-4bb4-8620-8689aa24b6f4";
  EXPECT_EQ(redis_.Call({"GET", key}).str(),
            R"({"status": "SUCCESS", "result": 4, "traceback": null, "children": [], )"
            R"("date_done": "2026-11-24T03:25:03.388304", )"
            R"("task_id": "254de228-3c4b-4bb4-8620-8689aa24b6f4"})");
  const long long ttl = redis_.Call({"TTL", key}).integer();
  EXPECT_GT(ttl, 86000);
  EXPECT_LE(ttl, 86400);
}

TEST_F(BackendTest, NeverOverwritesSuccess) {
  RedisBackend backend(testing::TestRedisUrl(1), 86400, &stop_);
  ASSERT_TRUE(backend.Store(Meta("SUCCESS", Json(4))));
  EXPECT_FALSE(backend.Store(Meta("FAILURE", Json::Object{})));
  const Json stored =
      Json::Parse(redis_.Call({"GET", "celery-task-meta-254de228-3c4b-4bb4-8620-8689aa24b6f4"}).str());
  EXPECT_EQ(stored.At("status"), Json("SUCCESS"));
}

TEST_F(BackendTest, OverwritesOtherStatesAndReadsPythonsNaN) {
  RedisBackend backend(testing::TestRedisUrl(1), 86400, &stop_);
  const std::string key = "celery-task-meta-254de228-3c4b-4bb4-8620-8689aa24b6f4";
  redis_.Call({"SET", key, R"({"status": "STARTED", "result": NaN, "task_id": "x"})"});
  EXPECT_TRUE(backend.Store(Meta("SUCCESS", Json(1))));
  // A SUCCESS record cjson cannot read (NaN) is still recognised by its text.
  redis_.Call({"SET", key, R"({"status": "SUCCESS", "result": NaN, "task_id": "x"})"});
  EXPECT_FALSE(backend.Store(Meta("FAILURE", Json())));
}

TEST_F(BackendTest, ZeroExpiryMeansNoTtl) {
  RedisBackend backend(testing::TestRedisUrl(1), 0, &stop_);
  ASSERT_TRUE(backend.Store(Meta("SUCCESS", Json(4))));
  EXPECT_EQ(
      redis_.Call({"TTL", "celery-task-meta-254de228-3c4b-4bb4-8620-8689aa24b6f4"}).integer(), -1);
}

TEST_F(BackendTest, SurvivesAFlushedScriptCache) {
  RedisBackend backend(testing::TestRedisUrl(1), 60, &stop_);
  ASSERT_TRUE(backend.Store(Meta("STARTED", Json())));
  redis_.Call({"SCRIPT", "FLUSH"});
  EXPECT_TRUE(backend.Store(Meta("SUCCESS", Json(2))));
}

TEST_F(BackendTest, StoresWrittenBehindLandInOrderEvenAfterTheScriptCacheIsFlushed) {
  RedisBackend backend(testing::TestRedisUrl(1), 60, &stop_);
  const std::string key = "celery-task-meta-254de228-3c4b-4bb4-8620-8689aa24b6f4";
  backend.StoreBehind(Meta("STARTED", Json()));  // first use: loads the script, synchronously
  backend.StoreBehind(Meta("SUCCESS", Json(2)));
  backend.StoreBehind(Meta("FAILURE", Json()));  // SUCCESS stays sticky behind, too
  backend.Flush();
  EXPECT_EQ(Json::Parse(redis_.Call({"GET", key}).str()).At("status"), Json("SUCCESS"));
  redis_.Call({"DEL", key});
  redis_.Call({"SCRIPT", "FLUSH"});  // as after a Redis restart: EVALSHA gets NOSCRIPT
  backend.StoreBehind(Meta("SUCCESS", Json(3)));
  backend.Flush();  // ... and the write goes again as EVAL
  EXPECT_EQ(Json::Parse(redis_.Call({"GET", key}).str()).At("result"), Json(3));
}

}  // namespace
}  // namespace cw::backend
