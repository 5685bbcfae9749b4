// The messages cworker sends for canvases, against what Celery 5.2.6 sent in the same place
// (protocol/fixtures, captured from real workers).
#include "canvas/applier.h"

#include <gtest/gtest.h>

#include <cw/protocol/base64.h>
#include <cw/protocol/task_message.h>

#include "canvas/continuations.h"
#include "testing/redis_fixture.h"

namespace {
using cw::Json;
namespace p = cw::protocol;
using cw::canvas::Applier;
using cw::canvas::Continuations;

struct Published {
  cw::canvas::Route route;
  int priority;
  std::string envelope;
};

class RecordingSink : public cw::canvas::MessageSink {
 public:
  void Publish(const cw::canvas::Route& route, int priority, const std::string& env) override {
    sent.push_back({route, priority, env});
  }
  void SetChordSize(const std::string& gid, int64_t size) override {
    sizes.emplace_back(gid, size);
    size_set_before = sent.size();
  }
  std::vector<Published> sent;
  std::vector<std::pair<std::string, int64_t>> sizes;
  size_t size_set_before = 0;
};

p::TaskMessage Decode(const std::string& text) {
  std::string error;
  auto env = p::ParseEnvelope(text, &error);
  EXPECT_TRUE(env) << error;
  p::DecodeError derr;
  auto msg = p::DecodeTaskMessage(*env, &derr);
  EXPECT_TRUE(msg) << derr.message;
  return *msg;
}

cw::RequestInfo RequestOf(const p::TaskMessage& m) {
  cw::RequestInfo r;
  r.id = m.id;
  r.root_id = m.root_id;
  r.parent_id = m.parent_id;
  r.headers = m.headers;
  return r;
}

// Ids handed out in order: the test knows what Celery's capture used.
std::function<std::string()> Ids(std::vector<std::string> ids) {
  auto state = std::make_shared<std::pair<std::vector<std::string>, size_t>>(std::move(ids), 0);
  return [state] {
    if (state->second >= state->first.size()) return std::string("id-") + std::to_string(state->second++);
    return state->first[state->second++];
  };
}

class CapturedVersion : public ::testing::TestWithParam<std::string> {};

// A chain's first step, run by cworker, sends step 2 exactly as the Celery worker of the
// capture did: same bytes once the worker's own origin and the fresh delivery tag are the same.
TEST_P(CapturedVersion, NextChainStepIsByteForByteWhatCelerySent) {
  const p::TaskMessage step1 = Decode(cw::testing::CapturedMessage("chain", GetParam()));
  const std::string expected = cw::testing::CapturedMessage("chain_step2", GetParam());
  const Json captured = Json::Parse(expected);
  RecordingSink sink;
  Applier applier(&sink, cw::canvas::Router(), captured.At("headers").At("origin").as_string(),
                  "unused-oid");
  applier.set_id_source(
      Ids({captured.At("properties").At("delivery_tag").as_string()}));
  Continuations cont(&applier, nullptr);
  const Json children = cont.OnSuccess(step1, RequestOf(step1), Json(3));
  ASSERT_EQ(sink.sent.size(), 1u);
  EXPECT_EQ(sink.sent[0].envelope, expected);
  EXPECT_EQ(sink.sent[0].route.routing_key, "celery");
  const std::string step2_id = captured.At("headers").At("id").as_string();
  EXPECT_EQ(children.Dump(), R"([[[")" + step2_id + R"(", null], null]])");
}

// A group sent by cworker: members as Celery's producer sent them (group id, own root, index).
TEST_P(CapturedVersion, GroupMembersCarryTheGroupAsCelerysDo) {
  const p::TaskMessage captured = Decode(cw::testing::CapturedMessage("group", GetParam()));
  RecordingSink sink;
  Applier applier(&sink, cw::canvas::Router(), captured.origin, captured.reply_to);
  cw::Signature first("tasks.add", {0, 0});
  first.Set("task_id", captured.id);
  cw::Signature group =
      cw::Group({first, cw::Signature("tasks.add", {1, 1}), cw::Signature("tasks.add", {2, 2})});
  group.Set("task_id", captured.group);
  EXPECT_EQ(applier.Apply(group, nullptr), captured.group);
  ASSERT_EQ(sink.sent.size(), 3u);
  const p::TaskMessage mine = Decode(sink.sent[0].envelope);
  EXPECT_EQ(mine.id, captured.id);
  EXPECT_EQ(mine.group, captured.group);
  EXPECT_EQ(mine.root_id, captured.root_id);
  EXPECT_EQ(mine.parent_id, captured.parent_id);
  EXPECT_EQ(mine.args, captured.args);
  EXPECT_EQ(mine.argsrepr, captured.argsrepr);
  EXPECT_EQ(mine.embed, captured.embed);
  EXPECT_EQ(mine.group_index, 0);  // Celery >= 5.3.4 numbers plain groups; 5.2 sent null
  EXPECT_EQ(Decode(sink.sent[2].envelope).group_index, 2);
}

INSTANTIATE_TEST_SUITE_P(Celery, CapturedVersion, ::testing::Values("celery-5.2.6", "celery-5.5"),
                         [](const auto& param_info) {
                           std::string n = param_info.param;
                           for (char& c : n) {
                             if (c == '-' || c == '.') c = '_';
                           }
                           return n;
                         });

TEST(Canvas, LinkCallbackGetsTheResultPrependedAndTheSendersIds) {
  const p::TaskMessage linked = Decode(cw::testing::CapturedMessage("link_callbacks"));
  RecordingSink sink;
  Applier applier(&sink, cw::canvas::Router(), "gen23688@vm",
                  "8e6f3877-7c37-3c60-8dbe-24444c827747");
  applier.set_id_source(Ids({"6d31298d-9bbf-4016-9904-6d31cd73c47a",
                             "42d5c3d5-29b5-46f9-a004-4b50d7d0400c"}));
  Continuations cont(&applier, nullptr);
  cont.OnSuccess(linked, RequestOf(linked), Json(4));
  ASSERT_EQ(sink.sent.size(), 1u);
  const p::TaskMessage cb = Decode(sink.sent[0].envelope);
  EXPECT_EQ(cb.task, "tasks.add");
  EXPECT_EQ(cb.args.Dump(), "[4, 100]");
  EXPECT_EQ(cb.parent_id, linked.id);
  EXPECT_EQ(cb.root_id, linked.id);
  EXPECT_EQ(cb.argsrepr, "(4, 100)");
  EXPECT_TRUE(cb.embed.At("chain").is_null());  // a callback carries no chain, as captured
  EXPECT_EQ(cb.reply_to, "8e6f3877-7c37-3c60-8dbe-24444c827747");
}

TEST(Canvas, ErrbacksGoOutAsAGroupWithTheFailedTaskId) {
  RecordingSink sink;
  Applier applier(&sink, cw::canvas::Router(), "gen1@h", "oid");
  Continuations cont(&applier, nullptr);
  p::TaskMessage failed;
  failed.id = "failed-id";
  failed.root_id = "root-id";
  failed.embed = Json::Parse(
      R"({"callbacks": null, "errbacks": [{"task": "tasks.on_error", "args": [], "kwargs": {}, "options": {}, "subtask_type": null, "immutable": false}, {"task": "pyside.record_error", "args": ["k"], "kwargs": {}, "options": {}, "subtask_type": null, "immutable": false}], "chain": null, "chord": null})");
  cont.OnFailure(failed, RequestOf(failed), Json(), "", false);
  ASSERT_EQ(sink.sent.size(), 2u);
  const p::TaskMessage a = Decode(sink.sent[0].envelope);
  const p::TaskMessage b = Decode(sink.sent[1].envelope);
  EXPECT_EQ(a.args.Dump(), R"(["failed-id"])");
  EXPECT_EQ(b.args.Dump(), R"(["failed-id", "k"])");
  EXPECT_FALSE(a.group.empty());
  EXPECT_EQ(a.group, b.group);
  EXPECT_EQ(a.parent_id, "failed-id");
  EXPECT_EQ(a.root_id, "root-id");
}

TEST(Canvas, ChainOfThreeFreezesEveryStepAndSendsTheFirst) {
  RecordingSink sink;
  Applier applier(&sink, cw::canvas::Router({{"pyside.*", "python"}}, "celery"), "gen1@h", "oid");
  applier.set_id_source(Ids({"id3", "id2", "id1", "tag1"}));
  const cw::Signature chain = cw::Chain({cw::Signature("tasks.add", {2, 2}),
                                         cw::Signature("pyside.double"),
                                         cw::Signature("tasks.mul", {10})});
  const std::string id = applier.Apply(chain, nullptr);
  EXPECT_EQ(id, "id3");  // the chain's result is its last step's
  ASSERT_EQ(sink.sent.size(), 1u);
  const p::TaskMessage first = Decode(sink.sent[0].envelope);
  EXPECT_EQ(first.id, "id1");
  EXPECT_EQ(first.task, "tasks.add");
  EXPECT_EQ(first.root_id, "id1");
  const Json& rest = first.embed.At("chain");
  ASSERT_EQ(rest.size(), 2u);  // reversed: the next step is the last element
  EXPECT_EQ(rest.At(size_t{1}).At("task").as_string(), "pyside.double");
  EXPECT_EQ(rest.At(size_t{1}).At("options").At("task_id").as_string(), "id2");
  EXPECT_EQ(rest.At(size_t{0}).At("options").At("task_id").as_string(), "id3");
}

TEST(Canvas, ChordSendsHeaderWithBodyAndSetsTheSizeBeforeTheLastMember) {
  RecordingSink sink;
  Applier applier(&sink, cw::canvas::Router({{"pyside.*", "python"}}, "celery"), "gen1@h", "oid");
  const cw::Signature chord = cw::Chord(
      {cw::Signature("tasks.add", {1, 1}), cw::Signature("pyside.add", {2, 2}),
       cw::Chain({cw::Signature("tasks.add", {3, 3}), cw::Signature("tasks.mul", {2})})},
      cw::Signature("tasks.xsum"));
  const std::string body_id = applier.Apply(chord, nullptr);
  ASSERT_EQ(sink.sent.size(), 3u);
  ASSERT_EQ(sink.sizes.size(), 1u);
  EXPECT_EQ(sink.sizes[0].second, 3);
  EXPECT_EQ(sink.size_set_before, 2u);  // stored just before the last header message
  EXPECT_EQ(sink.sent[1].route.routing_key, "python");
  for (size_t i = 0; i < 2; ++i) {
    const p::TaskMessage m = Decode(sink.sent[i].envelope);
    EXPECT_EQ(m.group, sink.sizes[0].first);
    EXPECT_EQ(m.group_index, static_cast<int64_t>(i));
    EXPECT_EQ(m.embed.At("chord").At("options").At("task_id").as_string(), body_id);
  }
  // The chain member: its last step carries the chord; the first step carries none.
  const p::TaskMessage chain_first = Decode(sink.sent[2].envelope);
  EXPECT_TRUE(chain_first.embed.At("chord").is_null());
  const Json& last = chain_first.embed.At("chain").At(size_t{0});
  EXPECT_EQ(last.At("options").At("group_id").as_string(), sink.sizes[0].first);
  EXPECT_EQ(last.At("options").At("chord").At("options").At("task_id").as_string(), body_id);
}

TEST(Canvas, ChordSizeCountsAsCelerysDescend) {
  const Json plain = cw::Signature("a").ToJson();
  EXPECT_EQ(cw::canvas::ChordSizeOf(plain), 1);
  EXPECT_EQ(cw::canvas::ChordSizeOf(cw::Group({cw::Signature("a"), cw::Signature("b")}).ToJson()), 2);
  EXPECT_EQ(cw::canvas::ChordSizeOf(
                cw::Chain({cw::Signature("a"), cw::Group({cw::Signature("b"), cw::Signature("c")})})
                    .ToJson()),
            2);
  EXPECT_EQ(cw::canvas::ChordSizeOf(
                cw::Chord({cw::Signature("a"), cw::Signature("b")}, cw::Signature("c")).ToJson()),
            1);
}

TEST(Canvas, CountdownAndExpiresBecomeIsoTimes) {
  RecordingSink sink;
  Applier applier(&sink, cw::canvas::Router(), "gen1@h", "oid");
  applier.set_clock([] { return std::chrono::system_clock::time_point(std::chrono::seconds(1800000000)); });
  cw::Signature sig("tasks.add", {1, 2});
  sig.Set("countdown", 10).Set("expires", 60).Set("queue", "q").Set("priority", 6);
  applier.Apply(sig, nullptr);
  ASSERT_EQ(sink.sent.size(), 1u);
  const p::TaskMessage m = Decode(sink.sent[0].envelope);
  EXPECT_EQ(m.eta, "2027-01-15T08:00:10+00:00");
  EXPECT_EQ(m.expires, "2027-01-15T08:01:00+00:00");
  EXPECT_EQ(sink.sent[0].route.routing_key, "q");
  EXPECT_EQ(sink.sent[0].priority, 6);
}

}  // namespace
