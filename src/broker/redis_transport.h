// kombu's Redis transport, as a consumer sees it: queues as lists (one per priority step),
// acknowledgement emulated with the `unacked` hash and `unacked_index` zset, restores that put
// a message back where kombu would. The data layout is kombu's exactly, so a Python worker can
// restore what a dead cworker held, and the reverse.
#pragma once

#include <atomic>
#include <optional>
#include <string>
#include <vector>

#include <cw/protocol/task_message.h>

#include "redis/connection.h"

namespace cw::broker {

/// One message popped from a queue and recorded in `unacked`.
struct Delivery {
  std::string payload;    ///< the envelope text as stored in `unacked`
  std::string queue;      ///< queue it came from (priority suffix stripped)
  std::string tag;        ///< delivery tag (the field in `unacked`)
  bool envelope_ok = false;  ///< false: not a JSON object; it was dropped, never registered
  std::string error;         ///< why, when !envelope_ok
  protocol::Envelope envelope;  ///< parsed, when envelope_ok
};

class RedisTransport {
 public:
  /// While Redis is unreachable, Fetch and Declare give up when `*fetch_stop` is raised (warm
  /// shutdown); acks and restores keep retrying until `*hard_stop` (cold shutdown).
  RedisTransport(redis::Url url, std::vector<std::string> queues,
                 const std::atomic<bool>* fetch_stop, const std::atomic<bool>* hard_stop);

  const std::vector<std::string>& queues() const { return queues_; }
  const redis::Url& url() const { return conn_.url(); }

  /// Consume from `queues` from the next Fetch on (add_consumer / cancel_consumer); binds the
  /// new ones as Declare does. No queue at all: Fetch just waits its timeout.
  void SetQueues(std::vector<std::string> queues);
  /// Times the broker connections were made again after a loss.
  int64_t reconnects() const { return conn_.reconnects() + fetch_conn_.reconnects(); }

  /// Connects and binds the queues as a kombu consumer declares them (SADD
  /// _kombu.binding.<q> "<q>\x06\x16\x06\x16<q>"). Retries until Redis answers.
  void Declare();

  /// Waits up to `timeout_s` (at least 1 ms) for a message on any queue,
  /// in kombu's key order (every queue's priority-0 list first, ...). A message is recorded in
  /// unacked/unacked_index before it is returned. nullopt on timeout.
  std::optional<Delivery> Fetch(double timeout_s);

  /// Up to `max` messages at once when some are queued, each popped and recorded in
  /// unacked/unacked_index in one server-side step (no window where a popped message is
  /// recorded nowhere). When none are, waits up to `timeout_s` for one to be pushed: Redis
  /// tells us (client-side caching invalidations of the queue keys) and the script pops again.
  /// Against a Redis without CLIENT TRACKING (< 6) it blocks in Fetch instead and returns at
  /// most one. Same key order as Fetch. Returns early, empty, once `*fetch_stop` is raised.
  std::vector<Delivery> FetchBatch(size_t max, double timeout_s);

  /// One pop of what is queued now (up to `max`, recorded in unacked as FetchBatch does), never
  /// waiting for a push: empty when nothing is queued or `*fetch_stop` is raised.
  std::vector<Delivery> PopQueuedNow(size_t max);

  /// The server-side id of the connection an idle FetchBatch waits on (-1 before it exists).
  /// Killing it (KillClient) wakes the wait; the fetch then sees the stop flag.
  long long wake_client_id() const { return wake_conn_.client_id(); }
  /// Whether the consumer may be blocked in BRPOP (no CLIENT TRACKING, or Fetch in use).
  bool may_block_in_brpop() const { return idle_mode_.load() != IdleMode::kTracking; }

  /// Removes the message from unacked/unacked_index (kombu's ack and reject-without-requeue).
  /// Write-behind on a plain thread: sent at once, its replies read by the next call or Flush.
  void Ack(const std::string& tag);
  /// Reads the replies of written-behind acks (retrying until `hard_stop`).
  void Flush();

  /// Publishes an envelope to `queue` at `priority` (LPUSH on its priority list), as a
  /// producer using the anonymous exchange does. Retries while Redis is unreachable.
  void Publish(const std::string& queue, int priority, const std::string& payload);

  /// Publishes through a named exchange as kombu's Redis transport does: every queue bound to
  /// `exchange` with `routing_key` (SMEMBERS _kombu.binding.<exchange>, direct matching) gets
  /// the message. An empty exchange is the anonymous one (queue = routing key). When nothing
  /// is bound, the message goes to the queue named `routing_key` with a warning (kombu would
  /// drop it). Returns the queues published to.
  std::vector<std::string> PublishRouted(const std::string& exchange,
                                         const std::string& routing_key, int priority,
                                         const std::string& payload);

  /// The server-side id of the connection Fetch blocks on (-1 before it connected).
  long long fetch_client_id() const { return fetch_conn_.client_id(); }
  /// Ends another transport's blocking Fetch (CLIENT KILL ID), so that messages restored next
  /// cannot be popped again by it. For cold shutdown, from the signal thread's own transport.
  void KillClient(long long client_id);

  /// Refreshes the unacked_index score of each tag still in it (ZADD XX): the lease that keeps
  /// other workers' visibility-timeout restores off the messages this worker holds. Returns
  /// how many were still there.
  long long ExtendLeases(const std::vector<std::string>& tags);

  /// kombu's restore_visible: under the `unacked_mutex` lock (skipped when another worker holds
  /// it), restores every message recorded in unacked longer ago than `visibility_timeout_s`.
  /// Returns how many were restored.
  int RestoreVisible(double visibility_timeout_s);

  /// Puts an unacked message back on its queue, marked redelivered, and forgets it: RPUSH (it
  /// is consumed next) for restores, LPUSH (consumed last) for reject-with-requeue, into the
  /// message's priority list. Returns false when the tag was not in `unacked` any more.
  bool Restore(const std::string& tag, bool leftmost);

 private:
  std::vector<std::string> BrpopKeys() const;
  /// Pops up to `max` queued messages with the script (recorded in unacked); empty when none.
  std::vector<Delivery> PopQueued(size_t max, const std::vector<std::string>& keys);
  /// Idle wait without a loss window: true when something may have been pushed to a queue
  /// (or the wait was disturbed), false when `timeout_s` passed quietly. Sets idle_mode_ to
  /// kBrpop when Redis has no CLIENT TRACKING.
  bool WaitForPush(const std::vector<std::string>& keys, double timeout_s);
  bool FallBackToBrpop(std::string_view why);
  /// Parses a popped payload into `d`; records it in unacked unless the pop script did so
  /// under the same tag (`recorded_tag`, "" if it did not).
  void Complete(Delivery& d, std::string_view recorded_tag);
  void Rotate(const std::string& queue);
  void Register(Delivery& d, const std::string& exchange, const std::string& routing_key);

  redis::Connection conn_;
  // BRPOP gets a connection of its own: while it blocks, acks, restores and publishes from
  // other fibers (green pool) must not queue behind it.
  redis::Connection fetch_conn_;
  // Subscribed to __redis__:invalidate; fetch_conn_ has CLIENT TRACKING redirected to it, so a
  // push to a queue key fetch_conn_ read (EXISTS) wakes the idle wait here.
  redis::Connection wake_conn_;
  enum class IdleMode { kUnknown, kTracking, kBrpop };
  std::atomic<IdleMode> idle_mode_{IdleMode::kUnknown};  // read by the signal thread
  int64_t tracking_connects_ = -1;  ///< fetch_conn_.connects() when tracking was turned on
  long long tracking_target_ = -1;  ///< wake_conn_'s id it redirects to
  std::vector<std::string> queues_;
  std::vector<std::string> cycle_;  ///< queue order for the next BRPOP (round robin)
  const std::atomic<bool>* fetch_stop_;
  const std::atomic<bool>* hard_stop_;
};

}  // namespace cw::broker
