#include "cw/protocol/result_meta.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "cw/protocol/time_format.h"
#include "fixtures.h"

namespace cw::protocol {
namespace {

constexpr const char* kResults = "protocol/fixtures/results/";

// Reads a captured record back into a ResultMeta, as a worker would have built it.
ResultMeta FromRecord(const Json& record) {
  ResultMeta meta;
  meta.status = record["status"].as_string();
  const Json& result = record["result"];
  if (result.is_object() && result.Find("exc_type") != nullptr) {
    ExceptionInfo exc;
    exc.exc_type = result["exc_type"].as_string();
    exc.exc_module = result["exc_module"].as_string();
    exc.exc_message = result["exc_message"];
    meta.result = exc.ToJson();
  } else {
    meta.result = result;
  }
  if (!record["traceback"].is_null()) meta.traceback = record["traceback"].as_string();
  meta.children = record["children"];
  if (!record["date_done"].is_null()) meta.date_done = record["date_done"].as_string();
  if (const Json* g = record.Find("group_id")) meta.group_id = g->as_string();
  if (const Json* p = record.Find("parent_id")) meta.parent_id = p->as_string();
  if (record.Find("name") != nullptr) {
    meta.extended = ExtendedFields{record["name"].as_string(), &record["args"],
                                   &record["kwargs"],          record["worker"].as_string(),
                                   record["retries"].as_int(), record["queue"].as_string()};
  }
  meta.task_id = record["task_id"].as_string();
  return meta;
}

TEST(EncodeResultMeta, ReproducesEveryCapturedTaskRecordByteForByte) {
  int checked = 0;
  for (const std::string& name : testing::ListFixtures(kResults, ".json")) {
    const std::string text = testing::ReadFixture(kResults + name);
    const Json record = Json::Parse(text);
    if (record.Find("task_id") == nullptr) continue;  // the GroupResult record
    EXPECT_EQ(EncodeResultMeta(FromRecord(record)), text) << name;
    ++checked;
  }
  EXPECT_GE(checked, 12);
}

TEST(EncodeResultMeta, WritesASuccessRecordInCeleryOrder) {
  ResultMeta meta;
  meta.status = "SUCCESS";
  meta.result = 4;
  const DateDoneText done(Clock::time_point(std::chrono::microseconds(1795491500468898)));
  meta.date_done = done.view();
  meta.task_id = "50cdd919-162f-432e-b0a5-f62fbfff3809";
  EXPECT_EQ(EncodeResultMeta(meta), testing::ReadFixture(std::string(kResults) + "success.json"));
}

TEST(EncodeResultMeta, PutsGroupIdBeforeParentIdAndExtendedFieldsBeforeTaskId) {
  ResultMeta meta;
  meta.status = "SUCCESS";
  meta.result = Json::MakeArray({1.5, "x"});
  meta.group_id = "g";
  meta.parent_id = "p";
  const Json args = Json::MakeArray({2, 3});
  const Json kwargs = Json::MakeObject();
  meta.extended = ExtendedFields{"tasks.add", &args, &kwargs, "w@h", 1, "celery"};
  meta.task_id = "t";
  EXPECT_EQ(EncodeResultMeta(meta),
            R"({"status": "SUCCESS", "result": [1.5, "x"], "traceback": null, "children": [], )"
            R"("date_done": null, "group_id": "g", "parent_id": "p", "name": "tasks.add", )"
            R"("args": [2, 3], "kwargs": {}, "worker": "w@h", "retries": 1, "queue": "celery", )"
            R"("task_id": "t"})");
}

TEST(EncodeResultMeta, WritesStartedRecordWithNullDateDone) {
  ResultMeta meta;
  meta.status = "STARTED";
  meta.result = Json::MakeObject({{"pid", 23688}, {"hostname", "w1@vm"}});
  meta.task_id = "a919e284-fe48-4681-861e-7d9d83da5b5c";
  EXPECT_EQ(EncodeResultMeta(meta), testing::ReadFixture(std::string(kResults) + "started.json"));
}

TEST(ExceptionInfo, UsesCeleryKeyOrder) {
  ExceptionInfo exc{"ValueError", "builtins", Json::MakeArray({"boom"})};
  EXPECT_EQ(exc.ToJson().Dump(),
            R"({"exc_type": "ValueError", "exc_message": ["boom"], "exc_module": "builtins"})");
  ExceptionInfo empty;
  empty.exc_type = "Exception";
  empty.exc_module = "builtins";
  EXPECT_EQ(empty.ToJson().Dump(),
            R"({"exc_type": "Exception", "exc_message": [], "exc_module": "builtins"})");
}

}  // namespace
}  // namespace cw::protocol
