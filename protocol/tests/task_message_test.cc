#include "cw/protocol/task_message.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <optional>
#include <string>
#include <vector>

#include "cw/protocol/base64.h"
#include "cw/protocol/keys.h"
#include "cw/protocol/time_format.h"
#include "fixtures.h"

namespace cw::protocol {
namespace {

using Kind = DecodeError::Kind;

constexpr const char* k526 = "protocol/fixtures/celery-5.2.6/";
constexpr const char* k55 = "protocol/fixtures/celery-5.5/";
constexpr const char* kEmptyEmbed =
    R"({"callbacks": null, "errbacks": null, "chain": null, "chord": null})";

struct Decoded {
  std::optional<Envelope> env;
  std::optional<TaskMessage> msg;
  DecodeError error;
};

Decoded DecodeText(std::string_view text) {
  Decoded d;
  std::string why;
  d.env = ParseEnvelope(text, &why);
  EXPECT_TRUE(d.env.has_value()) << why;
  if (d.env) d.msg = DecodeTaskMessage(*d.env, &d.error);
  return d;
}

Decoded DecodeFixture(const std::string& dir, const std::string& name) {
  return DecodeText(testing::ReadFixture(dir + name + ".message.json"));
}

// A synthetic v2 message, shaped like Celery's, for the hostile-input tests.
struct Spec {
  Json headers = Json::MakeObject({{"lang", "py"}, {"task", "tasks.add"}, {"id", "id-1"}});
  std::string body = std::string("[[1, 2], {}, ") + kEmptyEmbed + "]";
  Json content_type = "application/json";
  Json properties = Json::MakeObject(
      {{"correlation_id", "id-1"},
       {"reply_to", "oid"},
       {"delivery_mode", 2},
       {"delivery_info", Json::MakeObject({{"exchange", ""}, {"routing_key", "celery"}})},
       {"priority", 0},
       {"body_encoding", "base64"},
       {"delivery_tag", "tag-1"}});
  bool base64 = true;

  std::string Text() const {
    return Json::MakeObject({{"body", base64 ? Base64Encode(body) : body},
                             {"content-encoding", "utf-8"},
                             {"content-type", content_type},
                             {"headers", headers},
                             {"properties", properties}})
        .Dump();
  }
};

Decoded Decode(const Spec& spec) { return DecodeText(spec.Text()); }

std::string Deflate(const std::string& in, int window_bits, size_t repeat = 1) {
  z_stream zs{};
  EXPECT_EQ(deflateInit2(&zs, 1, Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out;
  char chunk[1 << 16];
  for (size_t i = 0; i < repeat; ++i) {
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    zs.avail_in = static_cast<uInt>(in.size());
    const int flush = i + 1 == repeat ? Z_FINISH : Z_NO_FLUSH;
    do {
      zs.next_out = reinterpret_cast<Bytef*>(chunk);
      zs.avail_out = sizeof(chunk);
      deflate(&zs, flush);
      out.append(chunk, sizeof(chunk) - zs.avail_out);
    } while (zs.avail_out == 0);
  }
  deflateEnd(&zs);
  return out;
}

// ----- every captured message -------------------------------------------------------------------

TEST(DecodeFixtures, EveryCapturedJsonMessageDecodesWithItsHeaderIdentity) {
  int decoded = 0;
  for (const std::string dir : {k526, k55}) {
    for (const std::string& file : testing::ListFixtures(dir, ".message.json")) {
      const std::string name = file.substr(0, file.size() - std::string(".message.json").size());
      if (name == "serializer_pickle_rejected") continue;
      const Decoded d = DecodeFixture(dir, name);
      ASSERT_TRUE(d.msg.has_value()) << dir << name << ": " << d.error.message;
      const Json& doc = d.env->doc;
      EXPECT_FALSE(d.env->delivery_tag.empty());
      EXPECT_EQ(d.msg->correlation_id, doc["properties"]["correlation_id"].as_string());
      EXPECT_EQ(d.msg->id, d.msg->correlation_id) << name;
      if (name == "protocol_v1") continue;
      EXPECT_EQ(d.msg->id, doc["headers"]["id"].as_string());
      EXPECT_EQ(d.msg->task, doc["headers"]["task"].as_string());
      EXPECT_EQ(d.msg->argsrepr, doc["headers"]["argsrepr"].as_string());
      EXPECT_EQ(d.msg->headers, doc["headers"]);
      ++decoded;
    }
  }
  EXPECT_GE(decoded, 40);
}

// The worker hands its envelope over (Envelope&&): strings and parts are moved out of it. The
// message must equal the one decoded from a const envelope, which stays untouched.
TEST(DecodeFixtures, AGivenUpEnvelopeDecodesAsAKeptOneAndAKeptOneIsLeftAlone) {
  int compared = 0;
  for (const std::string dir : {k526, k55}) {
    for (const std::string& file : testing::ListFixtures(dir, ".message.json")) {
      const std::string text = testing::ReadFixture(dir + file);
      std::optional<Envelope> kept = ParseEnvelope(text, nullptr);
      ASSERT_TRUE(kept.has_value()) << file;
      const std::string before = kept->doc.Dump();
      DecodeError kept_error;
      DecodeError moved_error;
      const std::optional<TaskMessage> a = DecodeTaskMessage(*kept, &kept_error);
      EXPECT_EQ(kept->doc.Dump(), before) << file;
      std::optional<Envelope> given = ParseEnvelope(text, nullptr);
      const std::optional<TaskMessage> b = DecodeTaskMessage(std::move(*given), &moved_error);
      ASSERT_EQ(a.has_value(), b.has_value()) << file;
      EXPECT_EQ(kept_error.message, moved_error.message) << file;
      if (!a) continue;
      EXPECT_EQ(a->id, b->id) << file;
      EXPECT_EQ(a->task, b->task) << file;
      EXPECT_EQ(a->args, b->args) << file;
      EXPECT_EQ(a->kwargs, b->kwargs) << file;
      EXPECT_EQ(a->embed, b->embed) << file;
      EXPECT_EQ(a->headers, b->headers) << file;
      EXPECT_EQ(a->delivery_info, b->delivery_info) << file;
      EXPECT_EQ(a->reply_to, b->reply_to) << file;
      EXPECT_FALSE(b->reply_to.empty()) << file;
      EXPECT_EQ(a->correlation_id, b->correlation_id) << file;
      EXPECT_FALSE(b->correlation_id.empty()) << file;
      EXPECT_EQ(a->origin, b->origin) << file;
      EXPECT_EQ(a->root_id, b->root_id) << file;
      EXPECT_EQ(a->parent_id, b->parent_id) << file;
      EXPECT_EQ(a->group, b->group) << file;
      ++compared;
    }
  }
  EXPECT_GE(compared, 40);
}

TEST(DecodeFixtures, SimpleTaskFillsEveryField) {
  const Decoded d = DecodeFixture(k526, "simple_task");
  ASSERT_TRUE(d.msg) << d.error.message;
  const TaskMessage& m = *d.msg;
  EXPECT_EQ(m.protocol, 2);
  EXPECT_EQ(m.id, "50cdd919-162f-432e-b0a5-f62fbfff3809");
  EXPECT_EQ(m.task, "tasks.add");
  EXPECT_EQ(m.shadow, "");
  EXPECT_EQ(m.args.Dump(), "[2, 2]");
  EXPECT_EQ(m.kwargs.Dump(), "{}");
  EXPECT_EQ(m.embed.Dump(), kEmptyEmbed);
  EXPECT_EQ(m.root_id, m.id);
  EXPECT_EQ(m.parent_id, "");
  EXPECT_EQ(m.group, "");
  EXPECT_FALSE(m.group_index.has_value());
  EXPECT_EQ(m.retries, 0);
  EXPECT_EQ(m.eta, "");
  EXPECT_EQ(m.expires, "");
  EXPECT_FALSE(m.time_limit.has_value());
  EXPECT_FALSE(m.soft_time_limit.has_value());
  EXPECT_FALSE(m.ignore_result);
  EXPECT_EQ(m.argsrepr, "(2, 2)");
  EXPECT_EQ(m.kwargsrepr, "{}");
  EXPECT_EQ(m.origin, "gen23683@vm");
  EXPECT_EQ(m.reply_to, "a07220a5-c54f-3704-b26f-809546a1bca8");
  EXPECT_EQ(m.correlation_id, m.id);
  EXPECT_EQ(m.delivery_info.Dump(),
            R"({"exchange": "", "routing_key": "celery", "priority": 0, "redelivered": null})");
  EXPECT_EQ(d.env->delivery_tag, "322fb110-9d75-42ed-95ec-1187f4044c74");
  EXPECT_EQ(d.env->routing_key, "celery");
  EXPECT_EQ(d.env->exchange, "");
}

TEST(DecodeFixtures, UnicodeKwargsArriveAsUtf8) {
  for (const std::string dir : {k526, k55}) {
    const Decoded d = DecodeFixture(dir, "kwargs_unicode");
    ASSERT_TRUE(d.msg) << d.error.message;
    EXPECT_EQ(d.msg->task, "tasks.echo");
    EXPECT_EQ(d.msg->args.Dump(), R"([1, "two"])");
    EXPECT_EQ(d.msg->kwargs["name"].as_string(), "Zo\xc3\xab");
    EXPECT_EQ(d.msg->kwargs["emoji"].as_string(), "\xf0\x9f\x9a\x80");
    EXPECT_EQ(d.msg->kwargs["nested"].Dump(), R"({"list": [1, 2.5, null, true]})");
  }
}

TEST(DecodeFixtures, PriorityComesFromPropertiesAndPicksTheList) {
  const std::pair<const char*, int> cases[] = {
      {"priority", 0}, {"priority_4", 4}, {"priority_9", 9}};
  for (const std::string dir : {k526, k55}) {
    for (const auto& [name, priority] : cases) {
      const Decoded d = DecodeFixture(dir, name);
      ASSERT_TRUE(d.msg) << d.error.message;
      EXPECT_EQ(d.env->priority, priority) << name;
      EXPECT_EQ(d.msg->delivery_info["priority"].as_int(), priority);
      EXPECT_EQ(d.msg->args[0].as_int(), priority);  // the capture sent add(p, 1)
    }
  }
  EXPECT_EQ(QueueKey("celery", DecodeFixture(k526, "priority_4").env->priority),
            std::string("celery\x06\x16") + "3");
}

TEST(DecodeFixtures, ProtocolV1IsMappedOntoV2Fields) {
  for (const std::string dir : {k526, k55}) {
    const Decoded d = DecodeFixture(dir, "protocol_v1");
    ASSERT_TRUE(d.msg) << d.error.message;
    const TaskMessage& m = *d.msg;
    EXPECT_EQ(m.protocol, 1);
    EXPECT_EQ(m.task, "tasks.add");
    EXPECT_EQ(m.id, d.env->doc["properties"]["correlation_id"].as_string());
    EXPECT_EQ(m.args.Dump(), "[40, 2]");
    EXPECT_EQ(m.kwargs.Dump(), "{}");
    EXPECT_EQ(m.embed.Dump(), kEmptyEmbed);
    EXPECT_EQ(m.root_id, m.id);
    EXPECT_EQ(m.group, "");
    EXPECT_EQ(m.retries, 0);
    EXPECT_EQ(m.argsrepr, "(40, 2)");  // computed: v1 carries none
    EXPECT_EQ(m.kwargsrepr, "{}");
    EXPECT_EQ(m.headers.Dump(), "{}");
  }
  const Decoded first = DecodeFixture(k526, "protocol_v1");
  EXPECT_EQ(first.msg->id, "75143199-bde9-4076-9dcf-45f8e5ab62dc");
}

TEST(DecodeFixtures, CompressedBodyIsInflated) {
  for (const std::string dir : {k526, k55}) {
    const Decoded d = DecodeFixture(dir, "compression");
    ASSERT_TRUE(d.msg) << d.error.message;
    EXPECT_EQ(d.msg->args.Dump(), "[6, 7]");
    EXPECT_EQ(d.msg->embed.Dump(), kEmptyEmbed);
  }
}

TEST(DecodeFixtures, PickleIsRefusedWithTheTaskKnown) {
  for (const std::string dir : {k526, k55}) {
    const Decoded d = DecodeFixture(dir, "serializer_pickle_rejected");
    ASSERT_FALSE(d.msg.has_value());
    EXPECT_EQ(d.error.kind, Kind::kContentDisallowed);
    EXPECT_EQ(d.error.message,
              "Refusing to deserialize untrusted content of type pickle "
              "(application/x-python-serialize)");
    EXPECT_EQ(d.error.task_id, d.env->doc["headers"]["id"].as_string());
    EXPECT_EQ(d.error.task_name, "tasks.add");
    EXPECT_STREQ(d.error.exc_module(), "kombu.exceptions");
    EXPECT_STREQ(d.error.exc_type(), "ContentDisallowed");
  }
  EXPECT_EQ(DecodeFixture(k526, "serializer_pickle_rejected").error.task_id,
            "b822a31b-ccfa-4ac1-adab-9f4cbb8ba5c0");
}

TEST(DecodeFixtures, UnregisteredTaskNameIsKept) {
  const Decoded d = DecodeFixture(k526, "unregistered");
  ASSERT_TRUE(d.msg) << d.error.message;
  EXPECT_EQ(d.msg->task, "tasks.not_registered");
  EXPECT_EQ(d.msg->id, "0c204430-4648-4c1f-9ce9-33d9acf5818a");
}

TEST(DecodeFixtures, EtaAndExpiresAreKeptAsIsoText) {
  const Decoded countdown = DecodeFixture(k526, "countdown");
  ASSERT_TRUE(countdown.msg) << countdown.error.message;
  EXPECT_EQ(countdown.msg->eta, "2026-11-24T03:38:24.876867+00:00");
  EXPECT_EQ(countdown.msg->expires, "");
  const Decoded expires = DecodeFixture(k526, "expires");
  ASSERT_TRUE(expires.msg) << expires.error.message;
  EXPECT_EQ(expires.msg->eta, "2026-11-24T03:38:54.735628+00:00");
  EXPECT_EQ(expires.msg->expires, "2026-11-24T03:38:52.735628+00:00");
  const auto eta = ParseIsoTime(expires.msg->eta);
  const auto exp = ParseIsoTime(expires.msg->expires);
  ASSERT_TRUE(eta && exp);
  EXPECT_EQ(*eta - *exp, std::chrono::seconds(2));
}

TEST(DecodeFixtures, ChainCarriesTheRemainingStepsInReverseOrder) {
  const Decoded d = DecodeFixture(k526, "chain");
  ASSERT_TRUE(d.msg) << d.error.message;
  const Json& chain = d.msg->embed["chain"];
  ASSERT_EQ(chain.size(), 2u);
  EXPECT_EQ(chain[1]["args"].Dump(), "[3]");  // the next step is the last element
  EXPECT_EQ(chain[1]["options"]["task_id"].as_string(), "86e2aec6-6296-4208-a2bf-a1ec40c515d5");
  const Decoded step2 = DecodeFixture(k526, "chain_step2");
  ASSERT_TRUE(step2.msg) << step2.error.message;
  EXPECT_EQ(step2.msg->id, "86e2aec6-6296-4208-a2bf-a1ec40c515d5");
  EXPECT_EQ(step2.msg->parent_id, d.msg->id);
  EXPECT_EQ(step2.msg->root_id, d.msg->id);
  EXPECT_EQ(step2.msg->embed["chain"].size(), 1u);
}

TEST(DecodeFixtures, ChordHeaderCarriesTheBodyAndGroup) {
  for (const std::string dir : {k526, k55}) {
    const Decoded d = DecodeFixture(dir, "chord");
    ASSERT_TRUE(d.msg) << d.error.message;
    EXPECT_FALSE(d.msg->group.empty());
    EXPECT_EQ(d.msg->group_index, 0);
    EXPECT_EQ(d.msg->embed["chord"]["task"].as_string(), "tasks.tsum");
  }
  EXPECT_EQ(DecodeFixture(k526, "chord").msg->group, "773d051f-69a7-4ee9-8a12-58a0dd8672ff");
}

TEST(DecodeFixtures, GroupIndexIsNullIn526AndSetIn55) {
  const Decoded old_group = DecodeFixture(k526, "group");
  ASSERT_TRUE(old_group.msg);
  EXPECT_EQ(old_group.msg->group, "516abcdf-6284-4a4a-8aaa-9e383ba6635f");
  EXPECT_FALSE(old_group.msg->group_index.has_value());
  const Decoded new_group = DecodeFixture(k55, "group");
  ASSERT_TRUE(new_group.msg);
  EXPECT_EQ(new_group.msg->group_index, 0);
}

TEST(DecodeFixtures, LinkCallbacksAreInEmbed) {
  const Decoded d = DecodeFixture(k526, "link_callbacks");
  ASSERT_TRUE(d.msg) << d.error.message;
  const Json& callbacks = d.msg->embed["callbacks"];
  ASSERT_EQ(callbacks.size(), 1u);
  EXPECT_EQ(callbacks[0]["task"].as_string(), "tasks.add");
  EXPECT_EQ(callbacks[0]["args"].Dump(), "[100]");
}

TEST(DecodeFixtures, RetriedMessageToleratesLeakedProperties) {
  for (const std::string dir : {k526, k55}) {
    const Decoded d = DecodeFixture(dir, "retry_republished");
    ASSERT_TRUE(d.msg) << d.error.message;
    EXPECT_EQ(d.msg->task, "tasks.flaky");
    EXPECT_EQ(d.msg->retries, 1);
    EXPECT_EQ(d.msg->parent_id, d.msg->id);
    EXPECT_TRUE(ParseIsoTime(d.msg->eta).has_value());
  }
}

TEST(DecodeFixtures, FailureIgnoreResultTimeLimitAndRoutingFields) {
  const Decoded failure = DecodeFixture(k526, "failure");
  ASSERT_TRUE(failure.msg);
  EXPECT_EQ(failure.msg->args.Dump(), R"(["boom"])");
  EXPECT_EQ(failure.msg->argsrepr, "('boom',)");
  const Decoded ignore = DecodeFixture(k526, "ignore_result");
  ASSERT_TRUE(ignore.msg);
  EXPECT_TRUE(ignore.msg->ignore_result);
  const Decoded limit = DecodeFixture(k526, "time_limit");
  ASSERT_TRUE(limit.msg);
  EXPECT_EQ(limit.msg->time_limit, 1.0);
  EXPECT_FALSE(limit.msg->soft_time_limit.has_value());
  const Decoded routed = DecodeFixture(k526, "routing_queue");
  ASSERT_TRUE(routed.msg);
  EXPECT_EQ(routed.env->routing_key, "fast");
  EXPECT_EQ(routed.msg->delivery_info["routing_key"].as_string(), "fast");
}

TEST(DecodeFixtures, RestoredMessageIsMarkedRedelivered) {
  const Decoded d = DecodeFixture(k526, "restored_redelivered");
  ASSERT_TRUE(d.msg) << d.error.message;
  EXPECT_TRUE(d.msg->delivery_info["redelivered"].as_bool());
}

TEST(DecodeFixtures, Celery55StampHeadersAreKept) {
  const Decoded d = DecodeFixture(k55, "simple_task");
  ASSERT_TRUE(d.msg) << d.error.message;
  EXPECT_EQ(d.msg->args.Dump(), "[2, 2]");
  EXPECT_EQ(d.msg->headers["stamps"].Dump(), "{}");
  EXPECT_TRUE(d.msg->headers["stamped_headers"].is_null());
  EXPECT_EQ(d.msg->headers["replaced_task_nesting"].as_int(), 0);
}

// ----- hostile or malformed messages -------------------------------------------------------------

TEST(DecodeHostile, HeadersThatAreNotAnObjectAreAnUnknownMessage) {
  Spec spec;
  spec.headers = Json::MakeArray({1});
  const Decoded d = Decode(spec);
  ASSERT_FALSE(d.msg);
  EXPECT_EQ(d.error.kind, Kind::kInvalidTask);
  EXPECT_EQ(d.error.message, "unknown message");
  EXPECT_STREQ(d.error.exc_module(), "celery.exceptions");
  EXPECT_STREQ(d.error.exc_type(), "InvalidTaskError");
  Envelope not_object;
  not_object.doc = Json::MakeArray({1});
  DecodeError error;
  EXPECT_FALSE(DecodeTaskMessage(not_object, &error));
  EXPECT_EQ(error.message, "unknown message");
}

TEST(DecodeHostile, BadBase64IsADecodeErrorNamingTheTask) {
  Spec spec;
  spec.base64 = false;
  spec.body = "!!not base64!!";
  const Decoded d = Decode(spec);
  ASSERT_FALSE(d.msg);
  EXPECT_EQ(d.error.kind, Kind::kDecodeError);
  EXPECT_EQ(d.error.message, "Can't decode message body: invalid base64");
  EXPECT_EQ(d.error.task_id, "id-1");
  EXPECT_EQ(d.error.task_name, "tasks.add");
  EXPECT_STREQ(d.error.exc_module(), "kombu.exceptions");
  EXPECT_STREQ(d.error.exc_type(), "DecodeError");
}

TEST(DecodeHostile, BodyThatIsNotJsonIsADecodeError) {
  Spec spec;
  spec.body = "this is not json";
  const Decoded d = Decode(spec);
  ASSERT_FALSE(d.msg);
  EXPECT_EQ(d.error.kind, Kind::kDecodeError);
  EXPECT_NE(d.error.message.find("offset"), std::string::npos) << d.error.message;
  spec.body = "[[\"\xff\"], {}, null]";  // invalid UTF-8
  EXPECT_EQ(Decode(spec).error.kind, Kind::kDecodeError);
  spec.body = "[[1e400], {}, null]";
  EXPECT_EQ(Decode(spec).error.kind, Kind::kDecodeError);
}

TEST(DecodeHostile, HostileNestingInTheBodyIsRefused) {
  Spec spec;
  spec.body = std::string(100000, '[');
  const Decoded d = Decode(spec);
  ASSERT_FALSE(d.msg);
  EXPECT_EQ(d.error.kind, Kind::kDecodeError);
  EXPECT_NE(d.error.message.find("nesting"), std::string::npos) << d.error.message;
}

TEST(DecodeHostile, BodyOfTheWrongShapeIsAnInvalidTask) {
  for (const char* body : {"[1, 2]", "\"a string\"", "{}", "[[], {}, {}, {}]", "[[]]", "[[], []]",
                           "[{}, {}]", "[[], {}, []]", "[[], {}, 5]"}) {
    Spec spec;
    spec.body = body;
    const Decoded d = Decode(spec);
    ASSERT_FALSE(d.msg) << body;
    EXPECT_EQ(d.error.kind, Kind::kInvalidTask) << body;
    EXPECT_EQ(d.error.task_id, "id-1");
  }
}

TEST(DecodeHostile, EmbedMembersOfTheWrongTypeAreAnInvalidTask) {
  Spec spec;
  spec.body = R"([[], {}, {"callbacks": "x"}])";
  EXPECT_EQ(Decode(spec).error.kind, Kind::kInvalidTask);
  spec.body = R"([[], {}, {"chord": []}])";
  EXPECT_EQ(Decode(spec).error.kind, Kind::kInvalidTask);
}

TEST(DecodeHostile, TwoElementBodyAndNullEmbedAreAccepted) {
  Spec spec;
  spec.body = "[[1], {\"a\": 2}]";
  Decoded d = Decode(spec);
  ASSERT_TRUE(d.msg) << d.error.message;
  EXPECT_EQ(d.msg->embed.Dump(), kEmptyEmbed);
  spec.body = R"([[], {}, {"chain": [], "extra": 1}])";
  d = Decode(spec);
  ASSERT_TRUE(d.msg) << d.error.message;
  EXPECT_EQ(d.msg->embed.Dump(),
            R"({"callbacks": null, "errbacks": null, "chain": [], "chord": null, "extra": 1})");
}

TEST(DecodeHostile, WrongTypedHeadersAreAnInvalidTaskNamingTheField) {
  const std::pair<const char*, Json> cases[] = {
      {"retries", "x"},
      {"timelimit", "y"},
      {"timelimit", Json::MakeArray({1})},
      {"timelimit", Json::MakeArray({"a", nullptr})},
      {"group_index", "0"},
      {"eta", 5},
      {"ignore_result", "yes"},
      {"parent_id", 3},
      {"group", Json::MakeArray()},
  };
  for (const auto& [field, value] : cases) {
    Spec spec;
    spec.headers.Set(field, value);
    const Decoded d = Decode(spec);
    ASSERT_FALSE(d.msg) << field;
    EXPECT_EQ(d.error.kind, Kind::kInvalidTask) << field;
    EXPECT_NE(d.error.message.find(field), std::string::npos) << d.error.message;
    EXPECT_EQ(d.error.task_id, "id-1");
  }
}

TEST(DecodeHostile, IdAndTaskMustBeNonEmptyStrings) {
  Spec spec;
  spec.headers.Set("id", 5);
  Decoded d = Decode(spec);
  ASSERT_FALSE(d.msg);
  EXPECT_EQ(d.error.kind, Kind::kInvalidTask);
  EXPECT_NE(d.error.message.find("id"), std::string::npos);
  EXPECT_EQ(d.error.task_name, "tasks.add");
  spec = Spec();
  spec.headers.Set("task", 5);
  EXPECT_EQ(Decode(spec).error.kind, Kind::kInvalidTask);
  spec = Spec();
  spec.headers.Set("task", "");
  EXPECT_EQ(Decode(spec).error.message, "empty task name");
  spec = Spec();
  spec.headers.Set("id", "");
  EXPECT_EQ(Decode(spec).error.message, "empty task id");
}

TEST(DecodeHostile, MissingHeaderIdFallsBackToTheCorrelationId) {
  Spec spec;
  spec.headers = Json::MakeObject({{"task", "tasks.add"}});
  spec.properties.Set("correlation_id", "from-properties");
  const Decoded d = Decode(spec);
  ASSERT_TRUE(d.msg) << d.error.message;
  EXPECT_EQ(d.msg->id, "from-properties");
  EXPECT_EQ(d.msg->root_id, "from-properties");
  EXPECT_EQ(d.msg->argsrepr, "(1, 2)");
}

TEST(DecodeHostile, InvalidEtaOrExpiresIsAnInvalidTask) {
  Spec spec;
  spec.headers.Set("eta", "not a date");
  Decoded d = Decode(spec);
  ASSERT_FALSE(d.msg);
  EXPECT_EQ(d.error.kind, Kind::kInvalidTask);
  EXPECT_EQ(d.error.message, "invalid ETA value 'not a date'");
  spec = Spec();
  spec.headers.Set("expires", "2026-13-45T00:00:00");
  d = Decode(spec);
  EXPECT_EQ(d.error.kind, Kind::kInvalidTask);
}

TEST(DecodeHostile, OnlyJsonContentIsAccepted) {
  const std::pair<Json, std::string> cases[] = {
      {"application/x-yaml", "yaml (application/x-yaml)"},
      {"application/x-msgpack", "msgpack (application/x-msgpack)"},
      {"text/plain", "text/plain"},
      {Json(), "unknown (no content-type)"},
  };
  for (const auto& [type, what] : cases) {
    Spec spec;
    spec.content_type = type;
    const Decoded d = Decode(spec);
    ASSERT_FALSE(d.msg);
    EXPECT_EQ(d.error.kind, Kind::kContentDisallowed);
    EXPECT_EQ(d.error.message, "Refusing to deserialize untrusted content of type " + what);
  }
  Spec spec;
  spec.content_type = "Application/JSON; charset=utf-8";
  EXPECT_TRUE(Decode(spec).msg.has_value());
}

TEST(DecodeHostile, Utf8BodyEncodingMeansTheBodyIsPlainText) {
  Spec spec;
  spec.base64 = false;
  spec.properties.Set("body_encoding", "utf-8");
  Decoded d = Decode(spec);
  ASSERT_TRUE(d.msg) << d.error.message;
  EXPECT_EQ(d.msg->args.Dump(), "[1, 2]");
  spec.properties.Set("body_encoding", "rot13");
  d = Decode(spec);
  EXPECT_EQ(d.error.kind, Kind::kDecodeError);
  Spec not_string;
  Json doc = Json::Parse(not_string.Text());
  doc.Set("body", 42);
  d = DecodeText(doc.Dump());
  EXPECT_EQ(d.error.kind, Kind::kDecodeError);
}

TEST(DecodeHostile, GzipAndZlibBodiesInflateAndOtherCodecsAreRefused) {
  Spec spec;
  const std::string json = spec.body;
  spec.headers.Set("compression", "gzip");
  spec.body = Deflate(json, 31);  // gzip framing
  Decoded d = Decode(spec);
  ASSERT_TRUE(d.msg) << d.error.message;
  EXPECT_EQ(d.msg->args.Dump(), "[1, 2]");
  spec.headers.Set("compression", "zlib");
  spec.body = Deflate(json, 15);
  EXPECT_TRUE(Decode(spec).msg.has_value());
  spec.body = spec.body.substr(0, spec.body.size() / 2);  // truncated stream
  d = Decode(spec);
  EXPECT_EQ(d.error.kind, Kind::kDecodeError);
  spec.headers.Set("compression", "application/x-bz2");
  d = Decode(spec);
  EXPECT_EQ(d.error.kind, Kind::kDecodeError);
  EXPECT_EQ(d.error.message, "unsupported compression application/x-bz2");
}

TEST(DecodeHostile, CompressionBombOverTheLimitIsRefused) {
  Spec spec;
  spec.headers.Set("compression", "application/x-gzip");
  spec.body = Deflate(std::string(1 << 20, ' '), 15, 65);  // 65 MiB of spaces
  ASSERT_LT(spec.body.size(), 1u << 20);
  const Decoded d = Decode(spec);
  ASSERT_FALSE(d.msg);
  EXPECT_EQ(d.error.kind, Kind::kDecodeError);
  EXPECT_NE(d.error.message.find("64 MiB"), std::string::npos) << d.error.message;
}

TEST(DecodeHostile, V1BodyWithoutTaskIsAnUnknownMessage) {
  Spec spec;
  spec.headers = Json::MakeObject();
  spec.body = R"({"id": "x", "args": []})";
  Decoded d = Decode(spec);
  ASSERT_FALSE(d.msg);
  EXPECT_EQ(d.error.message, "unknown message");
  EXPECT_EQ(d.error.task_id, "id-1");  // from properties.correlation_id
  spec.body = R"({"task": "tasks.add", "id": "v1", "args": [], "kwargs": []})";
  d = Decode(spec);
  ASSERT_FALSE(d.msg);
  EXPECT_EQ(d.error.kind, Kind::kInvalidTask);
  EXPECT_EQ(d.error.task_id, "v1");
}

TEST(DecodeHostile, V1TasksetBecomesTheGroupAndMessageHeadersOverrideTheBody) {
  Spec spec;
  spec.headers = Json::MakeObject({{"retries", 3}});
  spec.body = R"({"task": "tasks.add", "id": "v1", "args": [1], "kwargs": {"a": 1},
                  "taskset": "gid", "retries": 1, "callbacks": [{"task": "t"}],
                  "chord": null, "utc": true})";
  const Decoded d = Decode(spec);
  ASSERT_TRUE(d.msg) << d.error.message;
  EXPECT_EQ(d.msg->protocol, 1);
  EXPECT_EQ(d.msg->group, "gid");
  EXPECT_EQ(d.msg->retries, 3);
  EXPECT_EQ(d.msg->argsrepr, "(1,)");
  EXPECT_EQ(d.msg->kwargsrepr, "{'a': 1}");
  EXPECT_EQ(d.msg->embed["callbacks"][0]["task"].as_string(), "t");
  EXPECT_TRUE(d.msg->embed["chain"].is_null());
}

TEST(DecodeHostile, TypeMarkersAreDecodedInArgsKwargsAndEmbed) {
  Spec spec;
  spec.body =
      R"([[{"__type__": "uuid", "__value__": {"hex": "0123456789abcdef0123456789abcdef"}}],)"
      R"( {"d": {"__type__": "decimal", "__value__": "9.99"}},)"
      R"( {"callbacks": [{"task": "t", "args": [{"__type__": "bytes", "__value__": "b"}]}]}])";
  const Decoded d = Decode(spec);
  ASSERT_TRUE(d.msg) << d.error.message;
  EXPECT_EQ(d.msg->args.Dump(), R"(["01234567-89ab-cdef-0123-456789abcdef"])");
  EXPECT_EQ(d.msg->kwargs.Dump(), R"({"d": "9.99"})");
  EXPECT_EQ(d.msg->embed["callbacks"][0]["args"].Dump(), R"(["b"])");
}

}  // namespace
}  // namespace cw::protocol
