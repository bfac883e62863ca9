// The consumer's protocol under CAF's deterministic coordinator and virtual
// time, with an in-memory backend and stand-in workers: it claims only for idle
// workers, renews every in-flight lease every third of the visibility timeout,
// poisons deliveries whose charged attempts reached max_attempts without running
// them, runs a suspect alone, fails a handler past max_handler_time and replaces
// its worker, charges a crashed worker's delivery and restarts the worker, and
// drains (giving back what still runs after drain_timeout).
#define CAF_SUITE consumer
#define FAIL(msg) CAF_FAIL(msg)  // 0.17.6's dsl.hpp uses an undefined FAIL macro
#include "actors/runtime/consumer.hpp"

#include <algorithm>
#include <caf/all.hpp>
#include <caf/test/dsl.hpp>
#include <deque>
#include <set>

#include "actors/runtime/atoms.hpp"
#include "actors/runtime/promotion_pacer.hpp"

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(postbox::delivery)

using namespace postbox;
using namespace std::chrono_literals;

namespace {

using release_atom = caf::atom_constant<caf::atom("t_release")>;
using crash_atom = caf::atom_constant<caf::atom("t_crash")>;

/// The mailbox as the consumer sees it, in memory; tests inspect what happened.
struct memory_mailbox {
  std::deque<delivery> queued;
  std::vector<int> claims;  // `max` of every claim call
  std::vector<int64_t> renewed;
  std::vector<int64_t> given_back;
  std::vector<int64_t> failed;
  std::vector<std::string> fail_reasons;
  std::vector<int64_t> alone;  // marked as running alone
  std::vector<int64_t> poisoned;
  std::vector<int64_t> handled;  // by the stand-in workers
  std::set<int64_t> locked;      // rows another transaction holds: fail finds them busy
  int busy_fails = 0;            // fail calls that found their row locked

  void add(int64_t id, int32_t read_ct = 1, int32_t attempts = 0, bool suspect = false) {
    delivery d;
    d.id = id;
    d.receipt = id * 10 + read_ct;  // every read hands out a new receipt
    d.queue = "file_batch";
    d.type = "process_file_batch";
    d.read_ct = read_ct;
    d.attempts = attempts;
    d.suspect = suspect;
    queued.push_back(d);
  }
};

class memory_backend : public consumer_backend {
 public:
  explicit memory_backend(std::shared_ptr<memory_mailbox> m) : m_(std::move(m)) {}
  caf::expected<std::vector<delivery>> claim(int max) override {
    m_->claims.push_back(max);
    std::vector<delivery> out;
    while (!m_->queued.empty() && static_cast<int>(out.size()) < max) {
      out.push_back(m_->queued.front());
      m_->queued.pop_front();
    }
    return out;
  }
  caf::error renew(const lease& l) override {
    m_->renewed.push_back(l.message_id);
    return {};
  }
  void give_back(const delivery& d, const std::string&) override { m_->given_back.push_back(d.id); }
  bool fail(const delivery& d, const std::string& reason) override {
    if (m_->locked.count(d.id) != 0) {
      ++m_->busy_fails;
      return false;
    }
    m_->failed.push_back(d.id);
    m_->fail_reasons.push_back(reason);
    return true;
  }
  caf::error mark_running_alone(const delivery& d) override {
    m_->alone.push_back(d.id);
    return {};
  }
  std::string poison(const delivery& d, const std::string&) override {
    m_->poisoned.push_back(d.id);
    return "dead_lettered";
  }

 private:
  std::shared_ptr<memory_mailbox> m_;
};

struct worker_state {
  int index = 0;
  std::vector<std::pair<caf::response_promise, int64_t>> held;
};

/// A stand-in worker: holds each delivery until released (or crashes on demand).
caf::behavior stand_in_worker(caf::stateful_actor<worker_state>* self, int index,
                              std::shared_ptr<memory_mailbox> m) {
  self->state.index = index;
  return {
      [=](const delivery& d) {
        self->state.held.emplace_back(self->make_response_promise(), d.id);
      },
      [=](release_atom) {
        for (auto& [rp, id] : self->state.held) {
          m->handled.push_back(id);
          rp.deliver(done_atom::value, static_cast<int32_t>(self->state.index), id);
        }
        self->state.held.clear();
      },
      [=](crash_atom) { self->quit(caf::sec::runtime_error); },
  };
}

struct fixture : test_coordinator_fixture<> {
  std::shared_ptr<memory_mailbox> mailbox = std::make_shared<memory_mailbox>();
  std::vector<caf::actor> workers;
  caf::actor consumer;

  void start(int concurrency, int max_attempts = 3,
             std::chrono::milliseconds max_handler_time = std::chrono::hours(1),
             std::shared_ptr<solo_gate> gate = nullptr, int prefetch = 0) {
    consumer_params p;
    p.queue = "file_batch";
    p.owner = "test/file_batch";
    p.qc.visibility_timeout = 3s;
    p.qc.max_attempts = max_attempts;
    p.qc.claim_batch = 16;
    p.qc.prefetch = prefetch;
    p.qc.poll_interval = 1s;
    p.qc.max_handler_time = max_handler_time;
    p.drain_timeout = 10s;
    p.gate = gate;
    p.concurrency = concurrency;
    auto m = mailbox;
    p.backend = [m] { return std::make_unique<memory_backend>(m); };
    p.spawn_worker = [this, m](caf::actor_system& s, int i) {
      auto w = s.spawn(stand_in_worker, i, m);
      workers.push_back(w);
      return w;
    };
    consumer = spawn_consumer_with(sys, p, false);
    sched.run();
  }

  void release_all() {
    for (auto& w : workers) self->send(w, release_atom::value);
    sched.run();
  }

  ~fixture() {
    for (auto& w : workers) anon_send_exit(w, caf::exit_reason::kill);
    if (consumer) anon_send_exit(consumer, caf::exit_reason::kill);
    sched.run();
  }
};

}  // namespace

CAF_TEST_FIXTURE_SCOPE(consumer_tests, fixture)

CAF_TEST(claims only as many as there are idle workers) {
  for (int i = 1; i <= 5; ++i) mailbox->add(i);
  start(2);
  CAF_REQUIRE(!mailbox->claims.empty());
  CAF_CHECK_EQUAL(mailbox->claims.front(), 2);
  CAF_CHECK_EQUAL(mailbox->queued.size(), 3u);  // two in flight, three waiting
  release_all();  // both done: the consumer claims again for the two idle workers
  CAF_CHECK_EQUAL(mailbox->handled.size(), 2u);
  CAF_CHECK_EQUAL(mailbox->queued.size(), 1u);
  release_all();
  release_all();
  CAF_CHECK_EQUAL(mailbox->handled.size(), 5u);
  CAF_CHECK(mailbox->queued.empty());
}

CAF_TEST(prefetch claims ahead of idle workers and starts them without another claim) {
  for (int i = 1; i <= 10; ++i) mailbox->add(i);
  start(2, 3, std::chrono::hours(1), nullptr, 3);
  CAF_REQUIRE_EQUAL(mailbox->claims.size(), 1u);
  CAF_CHECK_EQUAL(mailbox->claims.front(), 5);  // two idle workers + three ahead
  CAF_CHECK_EQUAL(mailbox->queued.size(), 5u);
  release_all();  // two done: two of the three waiting start, no claim meanwhile
  CAF_CHECK_EQUAL(mailbox->handled.size(), 2u);
  CAF_CHECK_EQUAL(mailbox->claims.size(), 1u);
  sched.advance_time(1s);  // the waiting one is renewed like those running
  sched.run();
  CAF_CHECK_EQUAL(mailbox->renewed.size(), 3u);
  release_all();  // the last waiting starts; then one idle worker claims 1 + 3
  CAF_CHECK_EQUAL(mailbox->handled.size(), 4u);
  CAF_REQUIRE_EQUAL(mailbox->claims.size(), 2u);
  CAF_CHECK_EQUAL(mailbox->claims.back(), 4);
  for (int i = 0; i < 6; ++i) release_all();
  CAF_CHECK_EQUAL(mailbox->handled.size(), 10u);
  CAF_CHECK(mailbox->queued.empty());
}

CAF_TEST(prefetch auto claims ahead for short handlers and only for idle workers for long ones) {
  for (int i = 1; i <= 40; ++i) mailbox->add(i);
  start(2, 3, std::chrono::hours(1), nullptr, queue_config::prefetch_auto);
  // No handler time known yet: only the idle workers.
  CAF_REQUIRE_EQUAL(mailbox->claims.size(), 1u);
  CAF_CHECK_EQUAL(mailbox->claims.front(), 2);
  // Handlers of 1 ms: each worker starts 20 within the 20 ms horizon, so the next claim
  // takes a whole claim_batch (16) for the two idle workers and ahead of them.
  sched.advance_time(1ms);
  sched.run();
  release_all();
  CAF_REQUIRE_GREATER_OR_EQUAL(mailbox->claims.size(), 2u);
  CAF_CHECK_EQUAL(mailbox->claims[1], 16);
  for (int i = 0; i < 40; ++i) release_all();
  CAF_CHECK_EQUAL(mailbox->handled.size(), 40u);
}

CAF_TEST(prefetch auto claims nothing ahead of handlers longer than its horizon) {
  for (int i = 1; i <= 10; ++i) mailbox->add(i);
  start(2, 3, std::chrono::hours(1), nullptr, queue_config::prefetch_auto);
  CAF_CHECK_EQUAL(mailbox->claims.front(), 2);
  sched.advance_time(500ms);  // handlers of half a second
  sched.run();
  release_all();
  // Each worker done claims for itself alone, nothing ahead.
  CAF_CHECK_EQUAL(mailbox->claims, (std::vector<int>{2, 1, 1}));
  CAF_CHECK_EQUAL(mailbox->queued.size(), 6u);
}

CAF_TEST(leases in flight are renewed every third of the visibility timeout) {
  mailbox->add(1);
  mailbox->add(2);
  start(2);
  CAF_CHECK(mailbox->renewed.empty());
  sched.advance_time(999ms);
  sched.run();
  CAF_CHECK(mailbox->renewed.empty());
  sched.advance_time(1ms);  // vt 3s / 3
  sched.run();
  CAF_CHECK_EQUAL(mailbox->renewed.size(), 2u);
  sched.advance_time(1s);
  sched.run();
  CAF_CHECK_EQUAL(mailbox->renewed.size(), 4u);
  release_all();
  sched.advance_time(1s);
  sched.run();
  CAF_CHECK_EQUAL(mailbox->renewed.size(), 4u);  // nothing in flight, nothing renewed
}

CAF_TEST(a stale worker finishing does not stop the renewal of the new holder) {
  mailbox->add(1);
  start(2);
  // Worker 0 holds message 1; its lease expires and the message is read again (new
  // receipt, a suspect now). It waits: its stale copy still runs on worker 0.
  mailbox->add(1, 2, 0, true);
  self->send(consumer, wake_atom::value, std::string("file_batch"));
  sched.run();
  CAF_CHECK(mailbox->alone.empty());
  self->send(workers[0], release_atom::value);  // the stale holder finishes
  sched.run();
  CAF_CHECK_EQUAL(mailbox->alone, std::vector<int64_t>{1});  // now it runs, alone
  mailbox->renewed.clear();
  sched.advance_time(1s);
  sched.run();
  CAF_CHECK_EQUAL(mailbox->renewed, std::vector<int64_t>{1});  // the new holder's lease lives on
  release_all();
  CAF_CHECK_EQUAL(mailbox->handled, (std::vector<int64_t>{1, 1}));
}

CAF_TEST(two consumers of a node share the gate) {
  auto gate = std::make_shared<solo_gate>();
  auto other = std::make_shared<memory_mailbox>();
  mailbox->add(1);
  start(1, 3, std::chrono::hours(1), gate);
  other->add(2, 2, 0, true);
  other->add(3);
  std::vector<caf::actor> other_workers;
  consumer_params p;
  p.queue = "callback";
  p.owner = "test/callback";
  p.qc.visibility_timeout = 3s;
  p.qc.poll_interval = 1s;
  p.concurrency = 2;
  p.gate = gate;
  p.backend = [other] { return std::make_unique<memory_backend>(other); };
  p.spawn_worker = [&other_workers, other](caf::actor_system& s, int i) {
    auto w = s.spawn(stand_in_worker, i, other);
    other_workers.push_back(w);
    return w;
  };
  auto second = spawn_consumer_with(sys, p, false);
  sched.run();
  // Message 1 runs on the first consumer: the suspect 2 waits, and 3 (claimed with
  // it) runs; nothing more is claimed by either consumer.
  CAF_CHECK(other->alone.empty());
  mailbox->add(4);
  self->send(consumer, wake_atom::value, std::string("file_batch"));
  sched.run();
  CAF_CHECK_EQUAL(mailbox->queued.size(), 1u);
  for (auto& w : other_workers) self->send(w, release_atom::value);
  sched.run();
  CAF_CHECK(other->alone.empty());  // 1 still runs on the other consumer
  release_all();                    // 1 done: the node is quiet
  sched.advance_time(50ms);
  sched.run();
  CAF_CHECK_EQUAL(other->alone, std::vector<int64_t>{2});
  CAF_CHECK_EQUAL(mailbox->queued.size(), 1u);  // nothing claimed beside it
  for (auto& w : other_workers) self->send(w, release_atom::value);
  sched.run();
  sched.advance_time(1s);
  sched.run();
  release_all();
  CAF_CHECK_EQUAL(mailbox->handled, (std::vector<int64_t>{1, 4}));
  CAF_CHECK_EQUAL(other->handled, (std::vector<int64_t>{3, 2}));
  for (auto& w : other_workers) anon_send_exit(w, caf::exit_reason::kill);
  anon_send_exit(second, caf::exit_reason::kill);
  sched.run();
}

CAF_TEST(a delivery whose charged attempts reached max attempts is poisoned and never run) {
  mailbox->add(1, 4, 3);  // three attempts charged, max_attempts 3
  mailbox->add(2, 3, 2);  // its last allowed attempt
  mailbox->add(3, 6, 0);  // read often (its neighbours crashed the node), never charged
  start(3, 3);
  CAF_CHECK_EQUAL(mailbox->poisoned, std::vector<int64_t>{1});
  release_all();
  CAF_CHECK_EQUAL(mailbox->handled, (std::vector<int64_t>{2, 3}));
}

CAF_TEST(a suspect waits until nothing else runs then runs alone) {
  mailbox->add(1);
  mailbox->add(2, 2, 0, true);  // an earlier delivery was abandoned
  mailbox->add(3);
  start(3);
  CAF_CHECK(mailbox->alone.empty());  // 1 and 3 run; the suspect waits for them
  mailbox->add(4);
  self->send(consumer, wake_atom::value, std::string("file_batch"));
  sched.run();
  CAF_CHECK_EQUAL(mailbox->queued.size(), 1u);  // nothing claimed while a suspect waits
  release_all();
  CAF_CHECK_EQUAL(mailbox->handled, (std::vector<int64_t>{1, 3}));
  CAF_CHECK_EQUAL(mailbox->alone, std::vector<int64_t>{2});
  self->send(consumer, wake_atom::value, std::string("file_batch"));
  sched.run();
  CAF_CHECK_EQUAL(mailbox->queued.size(), 1u);  // nor while it runs
  release_all();
  CAF_CHECK_EQUAL(mailbox->handled, (std::vector<int64_t>{1, 3, 2}));
  CAF_CHECK(mailbox->queued.empty());  // then claiming resumes
  release_all();
  CAF_CHECK_EQUAL(mailbox->handled, (std::vector<int64_t>{1, 3, 2, 4}));
}

CAF_TEST(the gate lets no delivery run beside a suspect and charges none beside a stuck thread) {
  auto gate = std::make_shared<solo_gate>();
  bool charged = false;
  CAF_REQUIRE(gate->try_start());  // another queue's delivery runs on this node
  CAF_CHECK(!gate->try_start_alone(charged));
  gate->waiting(1);
  CAF_CHECK(gate->quiet_wanted());  // every consumer stops claiming
  gate->finished(false);
  CAF_CHECK(gate->try_start_alone(charged));
  CAF_CHECK(charged);
  gate->waiting(-1);
  CAF_CHECK(!gate->try_start());  // nothing starts beside it
  CAF_CHECK(gate->quiet_wanted());
  gate->finished(true);
  CAF_CHECK(gate->try_start());
  CAF_CHECK(!gate->quiet_wanted());
  gate->finished(false);
  gate->stuck(1);
  CAF_CHECK(gate->try_start_alone(charged));
  CAF_CHECK(!charged);
  gate->finished(true);
}

CAF_TEST(a handler past max handler time is failed and its worker replaced) {
  mailbox->add(1);
  start(1, 3, 5s);
  sched.advance_time(4s);
  sched.run();
  CAF_CHECK(mailbox->failed.empty());
  sched.advance_time(1s);
  sched.run();
  CAF_CHECK_EQUAL(mailbox->failed, std::vector<int64_t>{1});
  CAF_REQUIRE_EQUAL(mailbox->fail_reasons.size(), 1u);
  CAF_CHECK_EQUAL(mailbox->fail_reasons[0], "timed out: still running after max_handler_time (5s)");
  CAF_CHECK_EQUAL(workers.size(), 2u);  // a fresh worker in the slot
  mailbox->renewed.clear();
  mailbox->add(2);
  self->send(consumer, wake_atom::value, std::string("file_batch"));
  sched.run();
  sched.advance_time(1s);
  sched.run();
  CAF_CHECK_EQUAL(mailbox->renewed, std::vector<int64_t>{2});  // 1 is no longer renewed
  self->send(workers[1], release_atom::value);
  sched.run();
  self->monitor(workers[0]);
  self->send(workers[0], release_atom::value);  // the stuck one comes back late
  sched.run();
  CAF_CHECK_EQUAL(mailbox->handled, (std::vector<int64_t>{2, 1}));
  bool stuck_one_quit = false;
  self->receive([&](caf::down_msg&) { stuck_one_quit = true; }, caf::after(0s) >> [] {});
  CAF_CHECK(stuck_one_quit);  // told to quit once its handler returned
  CAF_CHECK_EQUAL(mailbox->failed, std::vector<int64_t>{1});  // nothing else charged
}

CAF_TEST(a fail that finds its row locked is tried again later while the consumer goes on) {
  mailbox->add(1);
  mailbox->locked.insert(1);  // e.g. its handler's ack, waiting behind a cancel
  start(2, 3, 5s);
  sched.advance_time(5s);
  sched.run();
  CAF_CHECK(mailbox->failed.empty());
  CAF_CHECK_GREATER_OR_EQUAL(mailbox->busy_fails, 1);
  CAF_CHECK_EQUAL(workers.size(), 3u);  // the stuck worker was replaced all the same
  // The consumer keeps claiming and renewing meanwhile.
  mailbox->add(2);
  self->send(consumer, wake_atom::value, std::string("file_batch"));
  sched.run();
  const int busy_before = mailbox->busy_fails;
  release_all();
  CAF_CHECK_EQUAL(std::count(mailbox->handled.begin(), mailbox->handled.end(), 2), 1);
  sched.advance_time(1s);
  sched.run();
  CAF_CHECK_GREATER(mailbox->busy_fails, busy_before);  // tried again on its ticks
  CAF_CHECK(mailbox->failed.empty());
  // The lock goes: the next tick charges it, once.
  mailbox->locked.clear();
  sched.advance_time(1s);
  sched.run();
  CAF_CHECK_EQUAL(mailbox->failed, std::vector<int64_t>{1});
  sched.advance_time(3s);
  sched.run();
  CAF_CHECK_EQUAL(mailbox->failed, std::vector<int64_t>{1});
}

CAF_TEST(a suspect beside a stuck handler thread runs uncharged) {
  mailbox->add(1);
  start(2, 3, 5s);
  sched.advance_time(5s);  // 1 hangs: failed, its worker replaced, its thread stuck
  sched.run();
  CAF_CHECK_EQUAL(mailbox->failed, std::vector<int64_t>{1});
  mailbox->add(2, 2, 0, true);
  self->send(consumer, wake_atom::value, std::string("file_batch"));
  sched.run();
  // It runs (the node does not stall behind a thread that may hang for hours), but a
  // crash now could be the stuck thread's: it is not marked as running alone.
  CAF_CHECK(mailbox->alone.empty());
  self->send(workers[2], release_atom::value);
  sched.run();
  CAF_CHECK_EQUAL(mailbox->handled, std::vector<int64_t>{2});
}

CAF_TEST(the delivery of a crashed worker is given back and the worker restarted) {
  mailbox->add(7);
  start(1);
  CAF_REQUIRE_EQUAL(workers.size(), 1u);
  self->send(workers[0], crash_atom::value);
  sched.run();
  CAF_CHECK_EQUAL(mailbox->failed, std::vector<int64_t>{7});  // a failed attempt, charged
  CAF_CHECK_EQUAL(workers.size(), 1u);                        // not yet: restart after 100ms
  sched.advance_time(100ms);
  sched.run();
  CAF_CHECK_EQUAL(workers.size(), 2u);
  mailbox->add(8);
  self->send(consumer, wake_atom::value, std::string("file_batch"));
  sched.run();
  release_all();
  CAF_CHECK_EQUAL(mailbox->handled, std::vector<int64_t>{8});
}

CAF_TEST(drain waits for the deliveries in flight then quits) {
  mailbox->add(1);
  start(2);
  self->monitor(consumer);
  self->send(consumer, drain_atom::value);
  sched.run();
  mailbox->add(2);  // arrives during the drain: never claimed
  self->send(consumer, wake_atom::value, std::string("file_batch"));
  sched.run();
  bool down = false;
  self->receive([&](caf::down_msg&) { down = true; }, caf::after(0s) >> [] {});
  CAF_CHECK(!down);  // message 1 is still in flight
  release_all();
  self->receive([&](caf::down_msg&) { down = true; }, caf::after(0s) >> [] {});
  CAF_CHECK(down);
  CAF_CHECK_EQUAL(mailbox->handled, std::vector<int64_t>{1});
  CAF_CHECK_EQUAL(mailbox->queued.size(), 1u);
  consumer = nullptr;
}

CAF_TEST(a drain gives back what still runs after drain timeout and quits) {
  mailbox->add(1);
  mailbox->add(2, 2, 0, true);  // a waiting suspect goes back at once
  start(2);
  self->monitor(consumer);
  self->send(consumer, drain_atom::value);
  sched.run();
  CAF_CHECK_EQUAL(mailbox->given_back, std::vector<int64_t>{2});
  sched.advance_time(9s);
  sched.run();
  bool down = false;
  self->receive([&](caf::down_msg&) { down = true; }, caf::after(0s) >> [] {});
  CAF_CHECK(!down);
  sched.advance_time(1s);  // drain_timeout 10s
  sched.run();
  self->receive([&](caf::down_msg&) { down = true; }, caf::after(0s) >> [] {});
  CAF_CHECK(down);
  CAF_CHECK_EQUAL(mailbox->given_back, (std::vector<int64_t>{2, 1}));
  CAF_CHECK(mailbox->failed.empty());  // a drain charges nothing
  consumer = nullptr;
}

CAF_TEST_FIXTURE_SCOPE_END()

// The promotion of woken keys before a claim: every claim while claims come back short
// (the default: a raced send waits for no timer), at most every interval while they come
// back full.
CAF_TEST(the promotion runs before every short claim and paced while claims are full) {
  using namespace std::chrono_literals;
  postbox::promotion_pacer pacer{100ms};
  const auto t0 = postbox::promotion_pacer::clock::time_point{} + 1h;
  CAF_CHECK(pacer.due(t0));
  pacer.promoted(t0);
  pacer.claimed(0, 4);  // short: the next claim promotes first
  CAF_CHECK(pacer.due(t0 + 1ms));
  pacer.promoted(t0 + 1ms);
  pacer.claimed(4, 4);  // full: not before the interval is up
  CAF_CHECK(!pacer.due(t0 + 50ms));
  CAF_CHECK(pacer.due(t0 + 101ms));
  pacer.claimed(3, 4);
  CAF_CHECK(pacer.due(t0 + 60ms));
}
